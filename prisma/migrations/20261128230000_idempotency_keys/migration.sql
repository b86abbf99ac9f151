-- Idempotent invoke: the request's Idempotency-Key (unique per function) and a hash of its body.
-- AlterTable
ALTER TABLE "invocations" ADD COLUMN     "idempotency_key" TEXT,
ADD COLUMN     "request_sha256" CHAR(64);

-- CreateIndex
CREATE UNIQUE INDEX "invocations_function_id_idempotency_key_key" ON "invocations"("function_id", "idempotency_key");
