import type { App } from "../app.js";

/**
 * Operator action: dead letters back to the queue. Their invocations, marked failed when
 * they died, are reopened as pending (the one sanctioned exit from a terminal status).
 */
export async function redriveDeadLetters(app: App): Promise<number> {
  const moved = await app.queue.redriveDeadLetters();
  for (const message of moved) await app.transitions.reopenForRedrive(message.invocation_id);
  return moved.length;
}
