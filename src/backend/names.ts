// Backend names, in a module of their own so that the CLI can list and check
// them without loading tfjs.
export type BackendName = "cpu" | "wasm" | "torch" | "tensorflow";
export const BACKEND_NAMES: readonly (BackendName | "auto")[] = ["cpu", "wasm", "torch", "tensorflow", "auto"];
