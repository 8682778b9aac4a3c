/** A position on the wire (src/hub/position.ts): a message id or a head. */
export const POSITION = /^(?:[A-Za-z0-9_-]{8}\.[a-z0-9]+\.[a-z0-9]{4}\.[a-z0-9]+|~\d+\.[a-z0-9]+\.[a-z0-9]{4})$/;

/** The process that issued a position (its tag, logged as `tag` at start-up). */
export const tagOf = (id: string): string => id.split('.')[2] ?? '';
