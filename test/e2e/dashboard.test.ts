// The web dashboard at / and /ui in a real browser (Debian's chromium, headless): a function
// deployed through the API is found by searching, invoked from the form, and its status
// changes live on the page (no worker exists until the page shows PENDING); the invocation,
// the feed and the health page show what happened. The feed lists once and then follows
// every invocation over one subscription: its GraphQL requests are watched to prove it.
// Every page is watched for script errors, console errors and requests to any other host.
// dist/dashboard is built by test/global-setup.ts (or make dashboard).
import { randomBytes } from "node:crypto";
import type { Locator, Page } from "playwright-core";
import { describe, expect } from "vitest";
import { invocationsChannel } from "../../src/redis/keys.js";
import { useChromium } from "../support/browser.js";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { type Platform, startPlatform } from "../support/platform.js";

const SCREENSHOT = process.env.DASHBOARD_SCREENSHOT ?? "/tmp/dashboard.png";

/** The quick reference's greeting, with a line on standard error for the page's logs. */
const GREETER_PY = `import json, os, sys

def main():
    name = json.loads(os.environ.get("FUNCTION_PAYLOAD", "{}")).get("name", "World")
    print(f"greeting {name}", file=sys.stderr)
    print(json.dumps({"message": f"Hello, {name}!"}))

if __name__ == "__main__":
    main()
`;

const test = platformTest();
const browser = useChromium("dashboard");

/** What went wrong on a page, labelled with the page it happened on. */
interface Watched {
  problems: string[];
  offHost: string[];
  /** Requests to /graphql, with their Authorization header. */
  graphqlAuthorizations: (string | undefined)[];
  /** Each request to /graphql, in order: its operation's name ("InvocationList", …) and the page's path as it left. */
  graphqlRequests: { operation: string; path: string }[];
  /** Text frames the page sent over WebSocket. */
  socketFrames: string[];
}

function watch(page: Page, platform: Platform): Watched {
  const host = new URL(platform.url).host;
  const watched: Watched = {
    problems: [],
    offHost: [],
    graphqlAuthorizations: [],
    graphqlRequests: [],
    socketFrames: [],
  };
  const where = () => new URL(page.url()).pathname;
  page.on("pageerror", (err) => watched.problems.push(`${where()}: page error: ${err.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") watched.problems.push(`${where()}: console error: ${message.text()}`);
  });
  page.on("request", (req) => {
    const url = new URL(req.url());
    if (url.host !== host) watched.offHost.push(req.url());
    if (url.pathname === "/graphql") {
      watched.graphqlAuthorizations.push(req.headers().authorization);
      const query = (req.postDataJSON() as { query?: string } | null)?.query ?? "";
      const operation = /\b(?:query|mutation)\s+(\w+)/.exec(query)?.[1] ?? "(anonymous)";
      watched.graphqlRequests.push({ operation, path: where() });
    }
  });
  page.on("websocket", (socket) => {
    if (new URL(socket.url()).host !== host) watched.offHost.push(socket.url());
    socket.on("framesent", (frame) => {
      if (typeof frame.payload === "string") watched.socketFrames.push(frame.payload);
    });
  });
  return watched;
}

const heading = (page: Page) => page.getByRole("heading", { level: 1 });

/** An element's text (textContent: what is in the DOM, also when styled out of view). */
const text = async (locator: Locator) => (await locator.textContent({ timeout: 5_000 })) ?? "";

describe("dashboard", () => {
  test("finds a function, invokes it from the form and follows it live; every page works offline", async ({
    platform,
  }) => {
    const tag = randomBytes(3).toString("hex");
    const name = `dash-hello-${tag}`;
    const created = await platform.request(
      "POST",
      "/functions",
      functionBody({ name, runtime: "python", code: b64(GREETER_PY) }),
    );
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const fnId: string = created.body.data.id;
    const other = await platform.request("POST", "/functions", functionBody({ name: `dash-other-${tag}` }));
    expect(other.status).toBe(201);

    const page = await browser().newPage();
    const watched = watch(page, platform);
    const visited: string[] = [];
    const arrived = async (title: string | RegExp) => {
      await expect.poll(() => text(heading(page)), { timeout: 30_000 }).toMatch(title);
      visited.push(new URL(page.url()).pathname);
    };

    // Functions: both are listed; the search keeps only the one whose name matches.
    await page.goto(`${platform.url}/`, { waitUntil: "load" });
    await arrived(/^Functions$/);
    const target = page.getByRole("link", { name, exact: true });
    const otherLink = page.getByRole("link", { name: `dash-other-${tag}`, exact: true });
    await target.waitFor({ timeout: 30_000 });
    await otherLink.waitFor();
    await page.getByLabel("Search by name").fill(`hello-${tag}`);
    await expect.poll(() => otherLink.count()).toBe(0);
    expect(await page.getByRole("row").count()).toBe(2); // the header and the match
    // By keyboard: the rows are real links.
    await target.focus();
    await page.keyboard.press("Enter");

    // The function's page, reached without reloading (client-side routing); its title has
    // the focus, so a screen reader announces it.
    await arrived(new RegExp(`^${name}`));
    expect(new URL(page.url()).pathname).toBe(`/ui/functions/${fnId}`);
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe("H1");
    expect(await text(page.locator("dl.facts"))).toContain("Python");

    // The editor validates as you type: invalid JSON disables Invoke and says where.
    const editor = page.getByLabel("Payload (JSON)");
    const invoke = page.getByRole("button", { name: "Invoke", exact: true });
    const validity = page.getByTestId("json-validity");
    await editor.fill('{"name": "Dashboard"');
    await expect.poll(() => text(validity)).toContain("Invalid JSON at line 1, column 21");
    expect(await invoke.isDisabled()).toBe(true);
    expect(await editor.getAttribute("aria-invalid")).toBe("true");
    await editor.fill('{\n  "name": Dashboard\n}');
    await expect.poll(() => text(validity)).toContain("Invalid JSON at line 2, column 11");
    expect(await invoke.isDisabled()).toBe(true);
    await editor.fill('{"name": "Dashboard"}');
    await expect.poll(() => text(validity)).toBe("Valid JSON.");
    expect(await invoke.isEnabled()).toBe(true);
    await invoke.click();

    const live = page.getByTestId("live-invocation");
    const status = live.getByTestId("live-status");
    await expect.poll(() => text(status), { timeout: 30_000 }).toBe("PENDING");
    const invocationId = (await text(live.getByRole("link"))).trim();
    expect(invocationId).toMatch(/^[0-9a-f-]{36}$/);
    // Only now does a worker exist: the page must show the rest as it happens.
    const worker = await platform.startWorker();
    await expect.poll(() => text(status), { timeout: 60_000 }).toBe("COMPLETED");
    const history = await text(live.getByTestId("status-history"));
    expect(history.indexOf("PENDING")).toBeGreaterThanOrEqual(0);
    expect(history.indexOf("COMPLETED")).toBeGreaterThan(history.indexOf("PENDING"));
    const result = JSON.parse(await text(live.getByTestId("invocation-result")));
    expect(result).toEqual({ message: "Hello, Dashboard!" });
    // The recent invocations below are reloaded once it ended.
    await page.locator(`tr[data-invocation-id="${invocationId}"]`).getByText("COMPLETED").waitFor({ timeout: 30_000 });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // The invocation's own page: payload, result, logs, timings, attempts, worker.
    await live.getByRole("link", { name: invocationId }).click();
    await arrived(new RegExp(`^Invocation ${invocationId}$`));
    expect(await text(page.getByTestId("invocation-status"))).toBe("COMPLETED");
    expect(JSON.parse(await text(page.getByTestId("invocation-payload")))).toEqual({ name: "Dashboard" });
    expect(JSON.parse(await text(page.getByTestId("invocation-result")))).toEqual({
      message: "Hello, Dashboard!",
    });
    expect(await text(page.getByTestId("invocation-logs"))).toBe("greeting Dashboard\n");
    expect(await text(page.getByTestId("invocation-attempts"))).toBe("1");
    expect(await text(page.getByTestId("invocation-worker"))).toBe(worker.id);
    const facts = await text(page.locator("dl.facts"));
    for (const label of ["Created", "Started", "Completed", "Duration"]) expect(facts).toContain(label);
    expect(facts).toMatch(/Duration\s*\d+(\.\d+)? m?s/);

    // The feed: this invocation, and a new one as it appears and ends. It is listed as it
    // opens; everything after comes over the one invocationsUpdated subscription, so no
    // further `invocations` query (a poll) may leave the page, however long the rest takes.
    const framesBefore = watched.socketFrames.length;
    const operationsBefore = watched.graphqlRequests.length;
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Live feed" }).click();
    await arrived(/^Live feed$/);
    await page.locator(`tr[data-invocation-id="${invocationId}"]`).getByText("COMPLETED").waitFor({ timeout: 10_000 });
    // The server listens on the shared channel for it before the next invocation is made.
    const listening = async () => (await platform.app.redis.pubsub("NUMSUB", invocationsChannel(platform.prefix)))[1];
    await expect.poll(listening, { timeout: 10_000 }).toBe(1);
    expect(
      watched.socketFrames
        .slice(framesBefore)
        .some((f) => f.includes('"subscribe"') && f.includes("invocationsUpdated")),
    ).toBe(true);
    // What the page asked for as it opened (StrictMode may run its effect twice: the first is
    // aborted). Only requests made on the feed's path count: a CI run saw one more request
    // between the snapshot and the feed, left by the page before it (its name unknown: the
    // message now shows every request and its path).
    const since = watched.graphqlRequests.slice(operationsBefore);
    const requests = since.map((r) => `${r.operation} on ${r.path}`);
    const opening = since.filter((r) => r.path === "/ui/invocations").map((r) => r.operation);
    expect(opening.length, requests.join(", ")).toBeGreaterThan(0);
    expect(opening, requests.join(", ")).toEqual(opening.map(() => "InvocationList"));
    const operationsListed = watched.graphqlRequests.length;
    const next = await platform.request("POST", "/invoke", { function_id: fnId, payload: { name: "Feed" } });
    expect(next.status).toBe(202);
    const nextRow = page.locator(`tr[data-invocation-id="${next.body.data.invocation_id}"]`);
    await nextRow.getByText("COMPLETED").waitFor({ timeout: 30_000 });
    expect(await text(nextRow)).toContain(name);
    // It came live: not one GraphQL request since the list was shown.
    expect(watched.graphqlRequests.slice(operationsListed).map((r) => r.operation)).toEqual([]);
    // Nor does it follow rows one by one.
    expect(
      watched.socketFrames
        .slice(framesBefore)
        .filter((f) => f.includes('"subscribe"') && f.includes("invocationUpdated(")),
    ).toEqual([]);

    // On a phone the rows become cards: nothing is wider than the screen.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 800 });

    // Health: the databases, the queue, the worker that ran it.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Health" }).click();
    await arrived(/^Health$/);
    await expect.poll(() => text(page.getByTestId("health-workers")), { timeout: 10_000 }).toBe("1 live worker.");
    const checks = await text(page.getByTestId("health-checks"));
    expect(checks).toMatch(/Overall\s*ok/);
    expect(checks).toMatch(/PostgreSQL\s*ok/);
    expect(checks).toMatch(/Redis\s*ok/);
    expect(await text(page.getByTestId("health-queue"))).toMatch(/Dead letters\s*0/);

    expect(visited).toEqual([
      "/",
      `/ui/functions/${fnId}`,
      `/ui/invocations/${invocationId}`,
      "/ui/invocations",
      "/ui/health",
    ]);
    expect(watched.problems).toEqual([]);
    expect(watched.offHost, "the dashboard must not load anything from other hosts").toEqual([]);
    // The subscription ran over this server's WebSocket (graphql-transport-ws).
    expect(watched.socketFrames.some((f) => f.includes('"subscribe"') && f.includes("invocationUpdated"))).toBe(true);
    await page.close();
  });

  test("sends the API key from its field over HTTP and in the WebSocket's connectionParams", async () => {
    // A platform of its own: once a key exists, every client needs one.
    const platform = await startPlatform();
    try {
      await platform.app.functions.create(functionBody({ name: "dash-keyed", code: b64(HELLO.python) }));
      const { token } = await platform.app.apiKeys.create({ name: "browser", role: "developer" });
      const page = await browser().newPage();
      const watched = watch(page, platform);

      await page.goto(`${platform.url}/ui`, { waitUntil: "load" });
      await page.getByRole("alert").getByText("UNAUTHENTICATED").waitFor({ timeout: 30_000 });
      // The refused request is this page's only error (Chromium logs the 401 itself).
      expect(watched.problems.every((p) => p.includes("status of 401"))).toBe(true);
      watched.problems.length = 0;
      watched.graphqlAuthorizations.length = 0;

      await page.getByLabel("API key", { exact: true }).fill(token);
      await page.getByRole("button", { name: "Save key" }).click();
      await page.getByRole("link", { name: "dash-keyed", exact: true }).waitFor({ timeout: 30_000 });
      expect(await page.evaluate(() => Object.values({ ...localStorage }))).toContain(token);
      expect(watched.graphqlAuthorizations.at(-1)).toBe(`Bearer ${token}`);

      // Kept in this browser: a reload still has it.
      await page.reload({ waitUntil: "load" });
      await page.getByRole("link", { name: "dash-keyed", exact: true }).click();
      await page.getByRole("heading", { level: 1, name: /dash-keyed/ }).waitFor({ timeout: 30_000 });
      await page.getByRole("button", { name: "Invoke", exact: true }).click();
      const status = page.getByTestId("live-status");
      await expect.poll(() => text(status), { timeout: 30_000 }).toBe("PENDING");
      await platform.startWorker();
      await expect.poll(() => text(status), { timeout: 60_000 }).toBe("COMPLETED");

      const init = watched.socketFrames.map((f) => JSON.parse(f)).find((m) => m.type === "connection_init");
      expect(init?.payload).toEqual({ authorization: `Bearer ${token}` });
      expect(watched.graphqlAuthorizations.every((a) => a === `Bearer ${token}`)).toBe(true);
      expect(watched.problems).toEqual([]);
      expect(watched.offHost).toEqual([]);
      await page.close();
    } finally {
      await platform.stop();
    }
  });
});
