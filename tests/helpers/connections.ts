/** The nodes of a Relay connection's page, in order. */
export function nodesOf<T>(connection: { edges: { node: T }[] }): T[] {
  return connection.edges.map((edge) => edge.node);
}
