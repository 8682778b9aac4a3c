/** Types of heap-sample.mjs, for the TypeScript tests. */
export interface SampledNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children?: SampledNode[];
}
export interface Recording {
  seconds: number;
  profile: { head: SampledNode };
}
export interface Summary {
  total: number;
  functions: { name: string; bytes: number }[];
  stacks: { name: string; bytes: number }[];
}
export function record(o: { port: number; seconds: number; out: string }): Promise<void>;
export function summarize(recording: Recording, perSecond?: number): Summary;
