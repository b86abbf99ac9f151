// The transports on the controller's one port: GraphQL over HTTP GET and POST, and
// graphql-transport-ws for queries and mutations too, with the same limits and context.
import { describe, expect } from "vitest";
import WebSocket from "ws";
import { platformTest } from "../support/fixtures.js";
import { FunctionsDocument } from "./generated/graphql.js";
import { drain, wsClient, wsSubscribe } from "./streams.js";

const test = platformTest({ env: { GRAPHQL_MAX_DEPTH: "6" } });

describe("GraphQL transports", () => {
  test("queries over GET; mutations only over POST", async ({ platform }) => {
    const query = encodeURIComponent("{ functions(first: 1) { edges { cursor } } }");
    const get = await fetch(`${platform.url}/graphql?query=${query}`, { headers: { accept: "application/json" } });
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual({ data: { functions: { edges: [] } } });

    const mutation = encodeURIComponent('mutation { deleteFunction(id: "x") { __typename } }');
    const getMutation = await fetch(`${platform.url}/graphql?query=${mutation}`, {
      headers: { accept: "application/json" },
    });
    expect(getMutation.status).toBe(405);

    const post = await fetch(`${platform.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: 'mutation { deleteFunction(id: "x") { __typename } }' }),
    });
    expect(await post.json()).toEqual({ data: { deleteFunction: { __typename: "ValidationError" } } });
  });

  test("queries and mutations over WebSocket use the same schema, errors and limits", async ({ platform }) => {
    const client = wsClient(platform.url);
    try {
      const [listed] = await drain(wsSubscribe(client, FunctionsDocument, { first: 1 }));
      expect(listed).toEqual({ data: { functions: expect.objectContaining({ edges: [] }) } });

      const deleted = await drain(
        client.iterate({
          query:
            'mutation { deleteFunction(id: "00000000-0000-4000-8000-000000000000") { __typename ... on Error { code } } }',
        }),
      );
      expect(deleted).toEqual([{ data: { deleteFunction: { __typename: "NotFoundError", code: "NOT_FOUND" } } }]);

      const deep = "{ functions(first: 1) { edges { node { invocations(first: 1) { edges { node { id } } } } } } }";
      await expect(drain(client.iterate({ query: deep }))).rejects.toSatisfy((errors: unknown) =>
        JSON.stringify(errors).includes("depth"),
      );
    } finally {
      await client.dispose();
    }
  });

  test("WebSocket upgrades are taken on /graphql only", async ({ platform }) => {
    const wsUrl = platform.url.replace(/^http/, "ws");
    const refused = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${wsUrl}/functions`, "graphql-transport-ws");
      ws.on("unexpected-response", (_req, res) => resolve(String(res.statusCode)));
      ws.on("error", (err) => resolve(err.message));
      ws.on("open", () => resolve("open"));
    });
    expect(refused).toBe("404");
    const accepted = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`${wsUrl}/graphql`, "graphql-transport-ws");
      ws.on("open", () => {
        resolve(ws.protocol);
        ws.close();
      });
      ws.on("error", (err) => resolve(err.message));
    });
    expect(accepted).toBe("graphql-transport-ws");
  });
});
