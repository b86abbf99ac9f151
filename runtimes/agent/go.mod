module faas/agent

go 1.19
