package main

const sysMemfdCreate = 279 // syscall.SYS_MEMFD_CREATE
