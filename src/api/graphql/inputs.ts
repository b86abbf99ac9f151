// GraphQL inputs are camelCase; the services take the REST (snake_case) shape and do all
// validation. Absent and null fields are dropped so the services apply their defaults.
const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Top-level keys only: values such as `environment` or `payload` are the user's own JSON. */
export function toServiceInput(input: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(input)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => [snake(k), v]),
  );
}
