// Who may do what: the one table every transport (REST, GraphQL, WebSocket, SSE) checks.

export const ROLES = ["admin", "developer", "invoker", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  "functions:read",
  "functions:write",
  /** See a function's `environment` values (they are secrets). */
  "functions:secrets",
  "invocations:read",
  "invoke",
  "keys:manage",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * An invoker may also read the functions it may invoke (without their secrets): a client
 * that invokes by name has to find the function's id.
 */
export const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  admin: PERMISSIONS,
  developer: ["functions:read", "functions:write", "functions:secrets", "invocations:read", "invoke"],
  invoker: ["functions:read", "invocations:read", "invoke"],
  viewer: ["functions:read", "invocations:read"],
};

export function roleMay(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}
