// What introspection costs: the number of values it would return, counted by walking the
// schema itself along the document's introspection selections (__schema, __type) with
// graphql-js's own introspection resolvers, without building any result. The Pothos
// complexity rule prices each of those fields at 1 whatever it selects, so 3,000 aliases of
// `__schema` (109 MiB of JSON) passed as "3,000"; and __Type.fields → __Field.type → … is a
// cycle a document can follow as deep as it likes. Counting stops at the budget, so a
// document costs at most `budget` steps to price, however it nests or spreads fragments.
import type {
  FieldNode,
  FragmentDefinitionNode,
  FragmentSpreadNode,
  GraphQLField,
  GraphQLObjectType,
  GraphQLResolveInfo,
  GraphQLSchema,
  InlineFragmentNode,
  OperationDefinitionNode,
  SelectionSetNode,
} from "graphql";
// The copy of graphql-js that Node loads, as in graphql-js.ts.
import {
  defaultFieldResolver,
  getArgumentValues,
  getNamedType,
  isObjectType,
  Kind,
  SchemaMetaFieldDef,
  TypeMetaFieldDef,
} from "graphql/index.js";

const META_FIELDS = new Map<string, GraphQLField<unknown, unknown>>([
  [SchemaMetaFieldDef.name, SchemaMetaFieldDef],
  [TypeMetaFieldDef.name, TypeMetaFieldDef],
]);

class OverBudget extends Error {}

type Visit = (set: SelectionSetNode) => void;

export interface IntrospectionCostInput {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fragment(name: string): FragmentDefinitionNode | undefined | null;
  variables: Record<string, unknown>;
  /** Counting stops once the cost is over this. */
  budget: number;
}

/**
 * The values the operation's introspection would return: every field and every object in
 * a list counts 1, and so does every fragment it applies (the walk's own work). Over
 * `budget`, the count stops and `budget + 1` is returned.
 */
export function introspectionCost(input: IntrospectionCostInput): number {
  const { schema, variables, budget } = input;
  const info = { schema } as GraphQLResolveInfo;
  let cost = 0;
  const spend = () => {
    cost += 1;
    if (cost > budget) throw new OverBudget();
  };
  // A fragment spread inside itself is refused by validation (NoFragmentCycles); the walk
  // only has to not follow it.
  const active = new Set<string>();
  /** Visits the fragment's selections if it applies to `type` (at the root: always). */
  const fragment = (selection: InlineFragmentNode | FragmentSpreadNode, visit: Visit, type?: GraphQLObjectType) => {
    const name = selection.kind === Kind.FRAGMENT_SPREAD ? selection.name.value : undefined;
    const node =
      selection.kind === Kind.INLINE_FRAGMENT
        ? selection
        : active.has(selection.name.value)
          ? undefined
          : input.fragment(selection.name.value);
    if (!node) return;
    spend();
    const condition = node.typeCondition?.name.value;
    // Introspection types are all object types: a fragment applies to its own type only.
    if (type && condition !== undefined && condition !== type.name) return;
    if (name !== undefined) active.add(name);
    visit(node.selectionSet);
    if (name !== undefined) active.delete(name);
  };

  const field = (def: GraphQLField<unknown, unknown>, node: FieldNode, source: unknown) => {
    spend();
    if (!node.selectionSet) return;
    let value: unknown;
    try {
      const args = getArgumentValues(def, node, variables);
      value = (def.resolve ?? defaultFieldResolver)(source, args, undefined, info);
    } catch {
      // Bad arguments: validation or execution reports them; nothing to count.
      return;
    }
    const type = getNamedType(def.type);
    if (!isObjectType(type) || value == null) return;
    const items = Array.isArray(value) ? value : [value];
    for (const item of items) {
      if (Array.isArray(value)) spend();
      if (item != null) selections(node.selectionSet, type, item);
    }
  };
  const selections = (set: SelectionSetNode, type: GraphQLObjectType, source: unknown) => {
    for (const selection of set.selections) {
      if (selection.kind !== Kind.FIELD) fragment(selection, (inner) => selections(inner, type, source), type);
      else {
        const def = type.getFields()[selection.name.value];
        if (def) field(def, selection, source);
        else spend(); // __typename, or a field validation refuses
      }
    }
  };
  // At the root only the meta fields return introspection; other root fields are priced by
  // the Pothos rule, and below them only __typename is introspection (it costs 1 there).
  const root = (set: SelectionSetNode) => {
    for (const selection of set.selections) {
      if (selection.kind !== Kind.FIELD) fragment(selection, root);
      else {
        const def = META_FIELDS.get(selection.name.value);
        if (def) field(def, selection, undefined);
      }
    }
  };

  try {
    root(input.operation.selectionSet);
  } catch (err) {
    if (!(err instanceof OverBudget)) throw err;
  }
  return cost;
}
