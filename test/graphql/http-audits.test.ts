// GraphQL over HTTP conformance: every audit of the graphql-http package (MUST, SHOULD and
// MAY) against the running server.
import { serverAudits } from "graphql-http";
import { describe, expect } from "vitest";
import { platformTest } from "../support/fixtures.js";

const test = platformTest();

let endpoint = "";
const audits = serverAudits({ url: () => endpoint });

describe("graphql-http server audits", () => {
  for (const audit of audits) {
    test(audit.name, async ({ platform }) => {
      endpoint = `${platform.url}/graphql`;
      const result = await audit.fn();
      const reason =
        result.status === "ok" ? "" : `${result.reason}: ${result.response.status} ${await result.response.text()}`;
      expect(result.status, reason).toBe("ok");
    });
  }
});
