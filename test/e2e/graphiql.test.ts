// GraphiQL at /graphql in a real browser (Debian's chromium, headless, no network beyond
// this machine): the page renders from the bundle the server inlines, and runs a
// subscription live over SSE while a worker runs the invocation.
import { describe, expect } from "vitest";
import { useChromium } from "../support/browser.js";
import { platformTest } from "../support/fixtures.js";
import { b64, functionBody, HELLO } from "../support/functions.js";
import { startPlatform } from "../support/platform.js";

const SCREENSHOT = process.env.GRAPHIQL_SCREENSHOT ?? "/tmp/graphiql.png";

const test = platformTest();
const browser = useChromium("graphiql");

describe("GraphiQL", () => {
  test("renders at /graphql from local assets and runs a subscription live", async ({ platform }) => {
    const fn = await platform.app.functions.create(functionBody({ code: b64(HELLO.python) }));
    const { invocation } = await platform.app.invocations.invoke({ function_id: fn.id, payload: { name: "Browser" } });

    const page = await browser().newPage();
    const offHost: string[] = [];
    const host = new URL(platform.url).host;
    page.on("request", (req) => {
      const url = new URL(req.url());
      if (url.protocol.startsWith("http") && url.host !== host) offHost.push(req.url());
    });
    const pageErrors: string[] = [];
    page.on("pageerror", (err) => pageErrors.push(err.message));

    const subscription = `subscription { invocationUpdated(id: "${invocation.id}") { id status result } }`;
    await page.goto(`${platform.url}/graphql?query=${encodeURIComponent(subscription)}`, { waitUntil: "load" });
    await page.locator(".graphiql-container").first().waitFor({ timeout: 60_000 });
    // The editor has the document from the URL, with the schema loaded (no error banner).
    await expect
      // biome-ignore lint/performance/useDomNodeTextContent: what the user sees (Monaco renders lazily)
      .poll(() => page.locator(".graphiql-query-editor").innerText(), { timeout: 30_000 })
      .toContain("invocationUpdated");

    await page.locator(".graphiql-execute-button").click();
    // The result pane is a Monaco editor: it shows spaces as non-breaking ones.
    // biome-ignore lint/performance/useDomNodeTextContent: what the user sees (Monaco renders lazily)
    const response = async () => (await page.locator(".graphiql-response").innerText()).replace(/\s+/g, " ");
    await expect.poll(response, { timeout: 30_000 }).toContain('"status": "PENDING"');
    // Only now does a worker exist: the pane must update live as the invocation runs.
    await platform.startWorker();
    await expect.poll(response, { timeout: 60_000 }).toContain('"status": "COMPLETED"');
    expect(await response()).toContain('"message": "Hello, Browser!"');

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(offHost, "GraphiQL must not load anything from other hosts").toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  test("sends the API key from its header editor (required once keys exist)", async () => {
    // A platform of its own: once a key exists, every client needs one.
    const platform = await startPlatform();
    try {
      const fn = await platform.app.functions.create(functionBody({ name: "graphiql-keyed" }));
      const { token } = await platform.app.apiKeys.create({ name: "browser", role: "viewer" });
      const page = await browser().newPage();
      const query = "{ functions { edges { node { name } } } }";
      const url = `${platform.url}/graphql?query=${encodeURIComponent(query)}`;
      // biome-ignore lint/performance/useDomNodeTextContent: what the user sees (Monaco renders lazily)
      const response = async () => (await page.locator(".graphiql-response").innerText()).replace(/\s+/g, " ");

      await page.goto(url, { waitUntil: "load" });
      await page.locator(".graphiql-container").first().waitFor({ timeout: 60_000 });
      await page.locator(".graphiql-execute-button").click();
      await expect.poll(response, { timeout: 30_000 }).toContain("UNAUTHENTICATED");

      // What the user types in the Headers tab is kept by GraphiQL in localStorage and sent
      // with every request (introspection and operations): put it there and reload.
      await page.evaluate(
        (headers) => localStorage.setItem("graphiql:headers", headers),
        JSON.stringify({ Authorization: `Bearer ${token}` }),
      );
      await page.goto(url, { waitUntil: "load" });
      await page.locator(".graphiql-container").first().waitFor({ timeout: 60_000 });
      await page.locator(".graphiql-execute-button").click();
      await expect.poll(response, { timeout: 30_000 }).toContain(fn.name);
      expect(await response()).not.toContain("UNAUTHENTICATED");
      await page.close();
    } finally {
      await platform.stop();
    }
  });
});
