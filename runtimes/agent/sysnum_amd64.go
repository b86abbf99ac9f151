package main

// memfd_create, which go1.19's syscall package does not name on amd64.
const sysMemfdCreate = 319
