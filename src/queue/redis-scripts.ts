// The queue's Lua scripts as ioredis custom commands: `defineCommand` loads each script
// once per connection and calls it by SHA (EVALSHA, falling back to EVAL only when Redis
// lost its script cache), as BullMQ does, instead of sending the whole script every call.
import type { ChainableCommander, Redis } from "ioredis";
import * as lua from "./lua-scripts.js";

const SCRIPTS = {
  faasAck: { numberOfKeys: 3, lua: lua.ACK },
  faasEnqueue: { numberOfKeys: 2, lua: lua.ENQUEUE },
  faasEnqueueIfLost: { numberOfKeys: 2, lua: lua.ENQUEUE_IF_LOST },
  faasRelease: { numberOfKeys: 3, lua: lua.RELEASE },
  faasDeadLetter: { numberOfKeys: 4, lua: lua.DEAD_LETTER },
  faasDelay: { numberOfKeys: 3, lua: lua.DELAY },
  faasPromoteDue: { numberOfKeys: 2, lua: lua.PROMOTE_DUE },
  faasReap: { numberOfKeys: 5, lua: lua.REAP },
  faasAcquireSlot: { numberOfKeys: 1, lua: lua.ACQUIRE_SLOT },
  faasRedriveOne: { numberOfKeys: 3, lua: lua.REDRIVE_ONE },
  faasRenewLease: { numberOfKeys: 3, lua: lua.RENEW_LEASE },
} as const;

export type ScriptName = keyof typeof SCRIPTS;
/** Keys first, then arguments, as the script's header comment lists them. */
export type ScriptCall = (...keysThenArgs: (string | number)[]) => Promise<unknown>;
export type QueueScripts = Record<ScriptName, ScriptCall>;

const registered = new WeakMap<Redis, QueueScripts>();

/** The queue's commands on this connection, defined on first use. */
export function queueScripts(redis: Redis): QueueScripts {
  const known = registered.get(redis);
  if (known) return known;
  const commands = {} as Record<ScriptName, ScriptCall>;
  for (const [name, script] of Object.entries(SCRIPTS) as [ScriptName, (typeof SCRIPTS)[ScriptName]][]) {
    redis.defineCommand(name, script);
    const command = (redis as unknown as Record<ScriptName, ScriptCall>)[name];
    commands[name] = (...keysThenArgs) => command.apply(redis, keysThenArgs);
  }
  registered.set(redis, commands);
  return commands;
}

/**
 * A queue command queued on a pipeline; undefined when the pipeline is not of a connection
 * `queueScripts` defined the commands on (ioredis gives a connection's pipelines its commands).
 */
export function pipelinedScript(commands: ChainableCommander, name: ScriptName): ScriptCall | undefined {
  const command = (commands as unknown as Record<ScriptName, unknown>)[name];
  return typeof command === "function" ? (...keysThenArgs) => command.apply(commands, keysThenArgs) : undefined;
}
