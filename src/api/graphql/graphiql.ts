// GraphiQL with its whole bundle inlined (@graphql-yoga/render-graphiql), instead of
// Yoga's default page that loads it from a CDN: a self-hosted platform must work offline.
// The page is ~9 MB, so it is loaded on first use and rendered once per set of options.
import type { GraphiQLOptions } from "graphql-yoga";

const rendered = new Map<string, Promise<string>>();

export function renderOfflineGraphiQL(options: GraphiQLOptions): Promise<string> {
  const key = JSON.stringify(options);
  let page = rendered.get(key);
  if (!page) {
    page = import("@graphql-yoga/render-graphiql").then((m) => m.renderGraphiQL(options));
    rendered.set(key, page);
  }
  return page;
}
