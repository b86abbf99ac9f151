// Limits enforced while the document is being lexed, before graphql-js builds (recursively)
// its AST: the number of tokens (graphql-armor's parser), the number of comments, and how
// deeply brackets nest. graphql-js's parser, and every validation rule after it, recurse once
// per level of `{`, `[` or `(`: 100,000 nested list literals overflowed the stack (HTTP 500)
// before any limit on the parsed document could look at it. Then, before validation, how
// deeply selections nest through fragment spreads (a chain of fragments each spreading the
// next is recursion the brackets do not show).
// The CommonJS build, explicitly: its `module` build imports graphql's ES module, a second
// copy of graphql-js under vitest (see graphql-js.ts).
import { MaxTokensParserWLexer } from "@escape.tech/graphql-armor-max-tokens/dist/graphql-armor-max-tokens.cjs.js";
import type {
  DocumentNode,
  FragmentDefinitionNode,
  OperationDefinitionNode,
  ParseOptions,
  SelectionSetNode,
  Source,
} from "graphql";
// The copy of graphql-js that Node loads, as in graphql-js.ts.
import { GraphQLError, Kind, TokenKind } from "graphql/index.js";
import { LimitError } from "./limit-errors.js";

/**
 * Deepest bracket nesting a document may have. Legitimate documents stay far below it (a
 * selection deeper than GRAPHQL_MAX_DEPTH ≤ 100 is refused anyway; GraphiQL's introspection
 * query nests about 20 deep, fragments counted), and at this depth no recursive algorithm
 * comes near the stack's end. (The token limit alone does not do: 5,000 tokens of `[` are
 * enough to overflow graphql-js's parser.)
 */
export const MAX_NESTING = 128;

export interface DocumentLimits {
  maxTokens: number;
}

function tokensError(maxTokens: number): LimitError {
  return new LimitError(
    "QUERY_TOKENS",
    `Token limit of ${maxTokens} exceeded: send a shorter document (fewer fields, aliases, fragments and comments).`,
    { max: maxTokens },
  );
}

/** graphql-js's own refusal past `maxComments` (a syntax error), which is this limit too. */
const TOO_MANY_COMMENTS = /^Syntax Error: Document contains more than \d+ comments/;

function nestingError(): LimitError {
  return new LimitError(
    "QUERY_NESTING",
    `Nesting limit of ${MAX_NESTING} exceeded: selections (through fragments too), lists, objects and arguments may nest at most ${MAX_NESTING} deep.`,
    { max: MAX_NESTING },
  );
}

const OPENING = new Set<string>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSING = new Set<string>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

interface Lexer {
  advance(): { kind: string };
}

class LimitedParser extends MaxTokensParserWLexer {
  constructor(source: string | Source, options: ParseOptions, limits: DocumentLimits) {
    super(source, {
      ...options,
      n: limits.maxTokens,
      // graphql-js keeps every comment token of the document in memory: bound them too.
      maxComments: limits.maxTokens,
      onReject: [
        () => {
          throw tokensError(limits.maxTokens);
        },
      ],
    });
    // The parser reads every token through `_lexer.advance()`: armor's proxy counts them,
    // this one tracks nesting, so both limits hold before the parser recurses any deeper.
    const lexer = this._lexer as unknown as Lexer;
    let depth = 0;
    const advance = () => {
      const token = lexer.advance();
      if (OPENING.has(token.kind)) {
        depth += 1;
        if (depth > MAX_NESTING) throw nestingError();
      } else if (CLOSING.has(token.kind)) {
        depth -= 1;
      }
      return token;
    };
    this._lexer = new Proxy(lexer, {
      get: (target, prop, receiver) => (prop === "advance" ? advance : Reflect.get(target, prop, receiver)),
    }) as unknown as typeof this._lexer;
  }
}

/** A definition's own selection depth, and its fragment spreads with the depth they sit at. */
interface Shape {
  depth: number;
  spreads: { name: string; depth: number }[];
}

function shapeOf(definition: OperationDefinitionNode | FragmentDefinitionNode): Shape {
  const shape: Shape = { depth: 0, spreads: [] };
  const pending: [SelectionSetNode, number][] = [[definition.selectionSet, 1]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [set, depth] = next;
    shape.depth = Math.max(shape.depth, depth);
    for (const selection of set.selections) {
      if (selection.kind === Kind.FRAGMENT_SPREAD) shape.spreads.push({ name: selection.name.value, depth: depth + 1 });
      else if (selection.selectionSet) pending.push([selection.selectionSet, depth + 1]);
    }
  }
  return shape;
}

/**
 * How deeply the document's operations nest selections, counting each selection set and
 * each fragment spread as a level. Iterative (the point is not to recurse), linear in the
 * document; a fragment cycle counts as no deeper (validation refuses it).
 */
export function selectionNesting(document: DocumentNode): number {
  const fragments = new Map<string, Shape>();
  const operations: Shape[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, shapeOf(definition));
    else if (definition.kind === Kind.OPERATION_DEFINITION) operations.push(shapeOf(definition));
  }
  const nesting = new Map<string, number>();
  const total = (shape: Shape) => {
    let depth = shape.depth;
    for (const spread of shape.spreads) depth = Math.max(depth, spread.depth + (nesting.get(spread.name) ?? 0));
    return depth;
  };
  // Depth-first, post-order: a fragment's nesting once every fragment it spreads has its own.
  const entered = new Set<string>();
  for (const start of fragments.keys()) {
    const stack = [start];
    while (stack.length > 0) {
      const name = stack[stack.length - 1]!;
      const shape = fragments.get(name)!;
      if (nesting.has(name)) stack.pop();
      else if (!entered.has(name)) {
        entered.add(name);
        for (const { name: next } of shape.spreads) {
          if (fragments.has(next) && !nesting.has(next) && !entered.has(next)) stack.push(next);
        }
      } else {
        nesting.set(name, total(shape));
        stack.pop();
      }
    }
  }
  let deepest = 0;
  for (const operation of operations) deepest = Math.max(deepest, total(operation));
  return deepest;
}

/** A parse function for envelop's `setParseFn` that applies the limits. */
export function createLimitedParse(limits: DocumentLimits) {
  return (source: string | Source, options?: ParseOptions): DocumentNode => {
    let document: DocumentNode;
    try {
      document = new LimitedParser(source, options ?? {}, limits).parseDocument();
    } catch (err) {
      throw err instanceof GraphQLError && TOO_MANY_COMMENTS.test(err.message) ? tokensError(limits.maxTokens) : err;
    }
    if (selectionNesting(document) > MAX_NESTING) throw nestingError();
    return document;
  };
}
