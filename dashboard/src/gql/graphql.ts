/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type FunctionFilter = {
  /** Exact function name (all of its versions). */
  name?: string | null | undefined;
  runtime?: Runtime | null | undefined;
};

export type InvocationFilter = {
  /** Only invocations of this function. */
  functionId?: string | null | undefined;
  status?: InvocationStatus | null | undefined;
};

/** PENDING → RUNNING → one of COMPLETED, FAILED, TIMEOUT (final). */
export type InvocationStatus =
  | 'COMPLETED'
  | 'FAILED'
  | 'PENDING'
  | 'RUNNING'
  | 'TIMEOUT';

export type InvokeInput = {
  functionId: string;
  /** An object of strings; passed to the function as FUNCTION_HEADERS (JSON). */
  headers?: unknown;
  /** Retry-safe invoke: the same key (per function, for 24 h) with the same request returns the same invocation, run once; with a different request it is a ConflictError. */
  idempotencyKey?: string | null | undefined;
  /** Passed to the function as FUNCTION_PAYLOAD (default {}). */
  payload?: unknown;
  /** Shorter time limit for this invocation than the function's. */
  timeout?: string | null | undefined;
  /** Wait up to this long (e.g. "10s") for the outcome before answering; `finished` tells whether it came. */
  wait?: string | null | undefined;
};

/** Language a function is written in. */
export type Runtime =
  | 'GO'
  | 'NODEJS'
  | 'PYTHON';

export type InvocationRowFragment = { id: string, functionId: string, status: InvocationStatus, attempts: number, durationMs: number | null, createdAt: string, completedAt: string | null, function: { id: string, name: string, version: string } };

export type InvocationDetailFragment = { id: string, functionId: string, status: InvocationStatus, payload: unknown, headers: unknown, result: unknown, error: string | null, logs: string | null, exitCode: number | null, attempts: number, workerId: string | null, durationMs: number | null, timeout: string, codeSha256: string, createdAt: string, startedAt: string | null, completedAt: string | null, function: { id: string, name: string, version: string } };

export type FunctionListQueryVariables = Exact<{
  first?: number | null | undefined;
  after?: string | null | undefined;
  filter?: FunctionFilter | null | undefined;
}>;


export type FunctionListQuery = { functions: { edges: Array<{ node: { id: string, name: string, version: string, runtime: Runtime, createdAt: string } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type FunctionDetailQueryVariables = Exact<{
  id: string;
  recent?: number | null | undefined;
}>;


export type FunctionDetailQuery = { function: { id: string, name: string, version: string, runtime: Runtime, handler: string, codeSha256: string, codeSize: number, timeout: string, memoryMb: number, maxConcurrency: number, network: boolean, metadata: unknown, createdAt: string, updatedAt: string, invocations: { edges: Array<{ node: { id: string, functionId: string, status: InvocationStatus, attempts: number, durationMs: number | null, createdAt: string, completedAt: string | null, function: { id: string, name: string, version: string } } }> } } | null };

export type InvocationListQueryVariables = Exact<{
  first?: number | null | undefined;
  filter?: InvocationFilter | null | undefined;
}>;


export type InvocationListQuery = { invocations: { edges: Array<{ node: { id: string, functionId: string, status: InvocationStatus, attempts: number, durationMs: number | null, createdAt: string, completedAt: string | null, function: { id: string, name: string, version: string } } }> } };

export type InvocationPageQueryVariables = Exact<{
  id: string;
}>;


export type InvocationPageQuery = { invocation: { id: string, functionId: string, status: InvocationStatus, payload: unknown, headers: unknown, result: unknown, error: string | null, logs: string | null, exitCode: number | null, attempts: number, workerId: string | null, durationMs: number | null, timeout: string, codeSha256: string, createdAt: string, startedAt: string | null, completedAt: string | null, function: { id: string, name: string, version: string } } | null };

export type InvokeFunctionMutationVariables = Exact<{
  input: InvokeInput;
}>;


export type InvokeFunctionMutation = { invoke:
    | { __typename: 'ConflictError', code: string, message: string }
    | { __typename: 'InvokeSuccess', invocation: { id: string, functionId: string, status: InvocationStatus, payload: unknown, headers: unknown, result: unknown, error: string | null, logs: string | null, exitCode: number | null, attempts: number, workerId: string | null, durationMs: number | null, timeout: string, codeSha256: string, createdAt: string, startedAt: string | null, completedAt: string | null, function: { id: string, name: string, version: string } } }
    | { __typename: 'NotFoundError', code: string, message: string }
    | { __typename: 'ValidationError', code: string, message: string, fields: Array<{ path: Array<string>, message: string }> }
   };

export type InvocationChangesSubscriptionVariables = Exact<{
  id: string;
}>;


export type InvocationChangesSubscription = { invocationUpdated: { id: string, functionId: string, status: InvocationStatus, payload: unknown, headers: unknown, result: unknown, error: string | null, logs: string | null, exitCode: number | null, attempts: number, workerId: string | null, durationMs: number | null, timeout: string, codeSha256: string, createdAt: string, startedAt: string | null, completedAt: string | null, function: { id: string, name: string, version: string } } };

export type InvocationFeedSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type InvocationFeedSubscription = { invocationsUpdated: { id: string, functionId: string, status: InvocationStatus, attempts: number, durationMs: number | null, createdAt: string, completedAt: string | null, function: { id: string, name: string, version: string } } };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}
export const InvocationRowFragmentDoc = new TypedDocumentString(`
    fragment InvocationRow on Invocation {
  id
  functionId
  status
  attempts
  durationMs
  createdAt
  completedAt
  function {
    id
    name
    version
  }
}
    `, {"fragmentName":"InvocationRow"}) as unknown as TypedDocumentString<InvocationRowFragment, unknown>;
export const InvocationDetailFragmentDoc = new TypedDocumentString(`
    fragment InvocationDetail on Invocation {
  id
  functionId
  status
  payload
  headers
  result
  error
  logs
  exitCode
  attempts
  workerId
  durationMs
  timeout
  codeSha256
  createdAt
  startedAt
  completedAt
  function {
    id
    name
    version
  }
}
    `, {"fragmentName":"InvocationDetail"}) as unknown as TypedDocumentString<InvocationDetailFragment, unknown>;
export const FunctionListDocument = new TypedDocumentString(`
    query FunctionList($first: Int, $after: String, $filter: FunctionFilter) {
  functions(first: $first, after: $after, filter: $filter) {
    edges {
      node {
        id
        name
        version
        runtime
        createdAt
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<FunctionListQuery, FunctionListQueryVariables>;
export const FunctionDetailDocument = new TypedDocumentString(`
    query FunctionDetail($id: ID!, $recent: Int) {
  function(id: $id) {
    id
    name
    version
    runtime
    handler
    codeSha256
    codeSize
    timeout
    memoryMb
    maxConcurrency
    network
    metadata
    createdAt
    updatedAt
    invocations(first: $recent) {
      edges {
        node {
          ...InvocationRow
        }
      }
    }
  }
}
    fragment InvocationRow on Invocation {
  id
  functionId
  status
  attempts
  durationMs
  createdAt
  completedAt
  function {
    id
    name
    version
  }
}`) as unknown as TypedDocumentString<FunctionDetailQuery, FunctionDetailQueryVariables>;
export const InvocationListDocument = new TypedDocumentString(`
    query InvocationList($first: Int, $filter: InvocationFilter) {
  invocations(first: $first, filter: $filter) {
    edges {
      node {
        ...InvocationRow
      }
    }
  }
}
    fragment InvocationRow on Invocation {
  id
  functionId
  status
  attempts
  durationMs
  createdAt
  completedAt
  function {
    id
    name
    version
  }
}`) as unknown as TypedDocumentString<InvocationListQuery, InvocationListQueryVariables>;
export const InvocationPageDocument = new TypedDocumentString(`
    query InvocationPage($id: ID!) {
  invocation(id: $id) {
    ...InvocationDetail
  }
}
    fragment InvocationDetail on Invocation {
  id
  functionId
  status
  payload
  headers
  result
  error
  logs
  exitCode
  attempts
  workerId
  durationMs
  timeout
  codeSha256
  createdAt
  startedAt
  completedAt
  function {
    id
    name
    version
  }
}`) as unknown as TypedDocumentString<InvocationPageQuery, InvocationPageQueryVariables>;
export const InvokeFunctionDocument = new TypedDocumentString(`
    mutation InvokeFunction($input: InvokeInput!) {
  invoke(input: $input) {
    __typename
    ... on InvokeSuccess {
      invocation {
        ...InvocationDetail
      }
    }
    ... on Error {
      code
      message
    }
    ... on ValidationError {
      fields {
        path
        message
      }
    }
  }
}
    fragment InvocationDetail on Invocation {
  id
  functionId
  status
  payload
  headers
  result
  error
  logs
  exitCode
  attempts
  workerId
  durationMs
  timeout
  codeSha256
  createdAt
  startedAt
  completedAt
  function {
    id
    name
    version
  }
}`) as unknown as TypedDocumentString<InvokeFunctionMutation, InvokeFunctionMutationVariables>;
export const InvocationChangesDocument = new TypedDocumentString(`
    subscription InvocationChanges($id: ID!) {
  invocationUpdated(id: $id) {
    ...InvocationDetail
  }
}
    fragment InvocationDetail on Invocation {
  id
  functionId
  status
  payload
  headers
  result
  error
  logs
  exitCode
  attempts
  workerId
  durationMs
  timeout
  codeSha256
  createdAt
  startedAt
  completedAt
  function {
    id
    name
    version
  }
}`) as unknown as TypedDocumentString<InvocationChangesSubscription, InvocationChangesSubscriptionVariables>;
export const InvocationFeedDocument = new TypedDocumentString(`
    subscription InvocationFeed {
  invocationsUpdated {
    ...InvocationRow
  }
}
    fragment InvocationRow on Invocation {
  id
  functionId
  status
  attempts
  durationMs
  createdAt
  completedAt
  function {
    id
    name
    version
  }
}`) as unknown as TypedDocumentString<InvocationFeedSubscription, InvocationFeedSubscriptionVariables>;