// Waiting on events instead of sleeping: poll a condition that changes because of real
// work, with a generous cap so a broken system fails the test instead of hanging it.
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  { capMs = 60_000, everyMs = 50 } = {},
): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() - start > capMs) throw new Error(`gave up waiting for ${what} after ${capMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
