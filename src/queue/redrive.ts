import type { App } from "../app.js";

/**
 * Operator action: dead letters back to the queue. Each invocation, marked failed when its
 * message died, is reopened as pending first (the one sanctioned exit from a terminal
 * status), and only then is its message queued, so a worker never sees the message while
 * the invocation still looks finished. Unreadable entries stay for the operator to inspect.
 */
export async function redriveDeadLetters(app: App): Promise<number> {
  let moved = 0;
  for (const { entry, message } of await app.queue.deadLetters()) {
    if (!message) continue;
    const reopened = await app.transitions.reopenForRedrive(message.invocation_id);
    const exists = reopened ?? (await app.db.invocation.findUnique({ where: { id: message.invocation_id } }));
    if (!exists) continue; // its function was deleted: nothing to run
    if (await app.queue.redrive(entry, message)) moved += 1;
  }
  return moved;
}
