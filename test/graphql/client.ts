// GraphQL over HTTP for tests: typed documents (test/graphql/generated) in, typed data out.
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { type GraphQLFormattedError, print } from "graphql";
import type { Platform } from "../support/platform.js";

export interface GraphqlResponse<TData> {
  status: number;
  data?: TData | null;
  errors?: GraphQLFormattedError[];
}

export async function gql<TData, TVariables>(
  platform: Pick<Platform, "url">,
  document: TypedDocumentNode<TData, TVariables> | string,
  variables?: TVariables,
  headers: Record<string, string> = {},
): Promise<GraphqlResponse<TData>> {
  const res = await fetch(`${platform.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json", ...headers },
    body: JSON.stringify({ query: typeof document === "string" ? document : print(document), variables }),
  });
  const body = (await res.json()) as Omit<GraphqlResponse<TData>, "status">;
  return { status: res.status, ...body };
}

/** The data of a response that must have no errors. */
export async function gqlData<TData, TVariables>(
  platform: Pick<Platform, "url">,
  document: TypedDocumentNode<TData, TVariables>,
  variables?: TVariables,
): Promise<TData> {
  const res = await gql(platform, document, variables);
  if (res.errors?.length || !res.data) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  return res.data;
}

/** Narrows a result union to one member, failing the test with the whole value otherwise. */
export function as<T extends { __typename: string }, N extends T["__typename"]>(
  value: T,
  typename: N,
): Extract<T, { __typename: N }> {
  if (value.__typename !== typename) throw new Error(`expected ${typename}, got ${JSON.stringify(value)}`);
  return value as Extract<T, { __typename: N }>;
}
