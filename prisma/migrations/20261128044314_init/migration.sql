-- CreateEnum
CREATE TYPE "invocation_status" AS ENUM ('pending', 'running', 'completed', 'failed', 'timeout');

-- CreateTable
CREATE TABLE "functions" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "version" TEXT NOT NULL,
    "runtime" TEXT NOT NULL,
    "handler" TEXT NOT NULL,
    "code_ref" TEXT NOT NULL,
    "code_sha256" CHAR(64) NOT NULL,
    "code_size" INTEGER NOT NULL,
    "timeout_ms" INTEGER NOT NULL,
    "memory_mb" INTEGER NOT NULL,
    "max_concurrency" INTEGER NOT NULL,
    "environment" JSONB NOT NULL DEFAULT '{}',
    "metadata" JSONB NOT NULL DEFAULT '{}',
    "network_enabled" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "functions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "invocations" (
    "id" UUID NOT NULL,
    "function_id" UUID NOT NULL,
    "status" "invocation_status" NOT NULL DEFAULT 'pending',
    "payload" JSONB NOT NULL DEFAULT '{}',
    "headers" JSONB NOT NULL DEFAULT '{}',
    "code_ref" TEXT NOT NULL,
    "code_sha256" CHAR(64) NOT NULL,
    "timeout_ms" INTEGER NOT NULL,
    "result" JSONB,
    "error" TEXT,
    "logs" TEXT,
    "exit_code" INTEGER,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "worker_id" TEXT,
    "duration_ms" INTEGER,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "started_at" TIMESTAMPTZ(3),
    "completed_at" TIMESTAMPTZ(3),

    CONSTRAINT "invocations_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "functions_runtime_created_at_id_idx" ON "functions"("runtime", "created_at" DESC, "id");

-- CreateIndex
CREATE INDEX "functions_created_at_id_idx" ON "functions"("created_at" DESC, "id");

-- CreateIndex
CREATE UNIQUE INDEX "functions_name_version_key" ON "functions"("name", "version");

-- CreateIndex
CREATE INDEX "invocations_function_id_created_at_id_idx" ON "invocations"("function_id", "created_at" DESC, "id");

-- CreateIndex
CREATE INDEX "invocations_status_created_at_id_idx" ON "invocations"("status", "created_at" DESC, "id");

-- CreateIndex
CREATE INDEX "invocations_created_at_id_idx" ON "invocations"("created_at" DESC, "id");

-- AddForeignKey
ALTER TABLE "invocations" ADD CONSTRAINT "invocations_function_id_fkey" FOREIGN KEY ("function_id") REFERENCES "functions"("id") ON DELETE CASCADE ON UPDATE CASCADE;
