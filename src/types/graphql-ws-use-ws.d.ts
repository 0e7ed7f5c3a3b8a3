/**
 * graphql-ws publishes `graphql-ws/use/ws` through package.json "exports" only, which the "node"
 * module resolution of tsconfig.json does not read (Node itself does, at run time). This points the
 * type checker at the same file.
 */
declare module 'graphql-ws/use/ws' {
  export * from 'graphql-ws/dist/use/ws';
}
