/* eslint-disable */
import * as types from './graphql.js';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "fragment InvocationRow on Invocation {\n  id\n  functionId\n  status\n  attempts\n  durationMs\n  createdAt\n  completedAt\n  function {\n    id\n    name\n    version\n  }\n}\n\nfragment InvocationDetail on Invocation {\n  id\n  functionId\n  status\n  payload\n  headers\n  result\n  error\n  logs\n  exitCode\n  attempts\n  workerId\n  durationMs\n  timeout\n  codeSha256\n  createdAt\n  startedAt\n  completedAt\n  function {\n    id\n    name\n    version\n  }\n}": typeof types.InvocationRowFragmentDoc,
    "query FunctionList($first: Int, $after: String, $filter: FunctionFilter) {\n  functions(first: $first, after: $after, filter: $filter) {\n    edges {\n      node {\n        id\n        name\n        version\n        runtime\n        createdAt\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery FunctionDetail($id: ID!, $recent: Int) {\n  function(id: $id) {\n    id\n    name\n    version\n    runtime\n    handler\n    codeSha256\n    codeSize\n    timeout\n    memoryMb\n    maxConcurrency\n    network\n    metadata\n    createdAt\n    updatedAt\n    invocations(first: $recent) {\n      edges {\n        node {\n          ...InvocationRow\n        }\n      }\n    }\n  }\n}": typeof types.FunctionListDocument,
    "query InvocationList($first: Int, $filter: InvocationFilter) {\n  invocations(first: $first, filter: $filter) {\n    edges {\n      node {\n        ...InvocationRow\n      }\n    }\n  }\n}\n\nquery InvocationPage($id: ID!) {\n  invocation(id: $id) {\n    ...InvocationDetail\n  }\n}\n\nmutation InvokeFunction($input: InvokeInput!) {\n  invoke(input: $input) {\n    __typename\n    ... on InvokeSuccess {\n      invocation {\n        ...InvocationDetail\n      }\n    }\n    ... on Error {\n      code\n      message\n    }\n    ... on ValidationError {\n      fields {\n        path\n        message\n      }\n    }\n  }\n}\n\nsubscription InvocationChanges($id: ID!) {\n  invocationUpdated(id: $id) {\n    ...InvocationDetail\n  }\n}\n\nsubscription InvocationFeed {\n  invocationsUpdated {\n    ...InvocationRow\n  }\n}": typeof types.InvocationListDocument,
};
const documents: Documents = {
    "fragment InvocationRow on Invocation {\n  id\n  functionId\n  status\n  attempts\n  durationMs\n  createdAt\n  completedAt\n  function {\n    id\n    name\n    version\n  }\n}\n\nfragment InvocationDetail on Invocation {\n  id\n  functionId\n  status\n  payload\n  headers\n  result\n  error\n  logs\n  exitCode\n  attempts\n  workerId\n  durationMs\n  timeout\n  codeSha256\n  createdAt\n  startedAt\n  completedAt\n  function {\n    id\n    name\n    version\n  }\n}": types.InvocationRowFragmentDoc,
    "query FunctionList($first: Int, $after: String, $filter: FunctionFilter) {\n  functions(first: $first, after: $after, filter: $filter) {\n    edges {\n      node {\n        id\n        name\n        version\n        runtime\n        createdAt\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery FunctionDetail($id: ID!, $recent: Int) {\n  function(id: $id) {\n    id\n    name\n    version\n    runtime\n    handler\n    codeSha256\n    codeSize\n    timeout\n    memoryMb\n    maxConcurrency\n    network\n    metadata\n    createdAt\n    updatedAt\n    invocations(first: $recent) {\n      edges {\n        node {\n          ...InvocationRow\n        }\n      }\n    }\n  }\n}": types.FunctionListDocument,
    "query InvocationList($first: Int, $filter: InvocationFilter) {\n  invocations(first: $first, filter: $filter) {\n    edges {\n      node {\n        ...InvocationRow\n      }\n    }\n  }\n}\n\nquery InvocationPage($id: ID!) {\n  invocation(id: $id) {\n    ...InvocationDetail\n  }\n}\n\nmutation InvokeFunction($input: InvokeInput!) {\n  invoke(input: $input) {\n    __typename\n    ... on InvokeSuccess {\n      invocation {\n        ...InvocationDetail\n      }\n    }\n    ... on Error {\n      code\n      message\n    }\n    ... on ValidationError {\n      fields {\n        path\n        message\n      }\n    }\n  }\n}\n\nsubscription InvocationChanges($id: ID!) {\n  invocationUpdated(id: $id) {\n    ...InvocationDetail\n  }\n}\n\nsubscription InvocationFeed {\n  invocationsUpdated {\n    ...InvocationRow\n  }\n}": types.InvocationListDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "fragment InvocationRow on Invocation {\n  id\n  functionId\n  status\n  attempts\n  durationMs\n  createdAt\n  completedAt\n  function {\n    id\n    name\n    version\n  }\n}\n\nfragment InvocationDetail on Invocation {\n  id\n  functionId\n  status\n  payload\n  headers\n  result\n  error\n  logs\n  exitCode\n  attempts\n  workerId\n  durationMs\n  timeout\n  codeSha256\n  createdAt\n  startedAt\n  completedAt\n  function {\n    id\n    name\n    version\n  }\n}"): typeof import('./graphql.js').InvocationRowFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query FunctionList($first: Int, $after: String, $filter: FunctionFilter) {\n  functions(first: $first, after: $after, filter: $filter) {\n    edges {\n      node {\n        id\n        name\n        version\n        runtime\n        createdAt\n      }\n    }\n    pageInfo {\n      hasNextPage\n      endCursor\n    }\n  }\n}\n\nquery FunctionDetail($id: ID!, $recent: Int) {\n  function(id: $id) {\n    id\n    name\n    version\n    runtime\n    handler\n    codeSha256\n    codeSize\n    timeout\n    memoryMb\n    maxConcurrency\n    network\n    metadata\n    createdAt\n    updatedAt\n    invocations(first: $recent) {\n      edges {\n        node {\n          ...InvocationRow\n        }\n      }\n    }\n  }\n}"): typeof import('./graphql.js').FunctionListDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query InvocationList($first: Int, $filter: InvocationFilter) {\n  invocations(first: $first, filter: $filter) {\n    edges {\n      node {\n        ...InvocationRow\n      }\n    }\n  }\n}\n\nquery InvocationPage($id: ID!) {\n  invocation(id: $id) {\n    ...InvocationDetail\n  }\n}\n\nmutation InvokeFunction($input: InvokeInput!) {\n  invoke(input: $input) {\n    __typename\n    ... on InvokeSuccess {\n      invocation {\n        ...InvocationDetail\n      }\n    }\n    ... on Error {\n      code\n      message\n    }\n    ... on ValidationError {\n      fields {\n        path\n        message\n      }\n    }\n  }\n}\n\nsubscription InvocationChanges($id: ID!) {\n  invocationUpdated(id: $id) {\n    ...InvocationDetail\n  }\n}\n\nsubscription InvocationFeed {\n  invocationsUpdated {\n    ...InvocationRow\n  }\n}"): typeof import('./graphql.js').InvocationListDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
