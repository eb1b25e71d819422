export declare function redactPortalTokens(text: string): string;
export declare function pipeRedacted(from: NodeJS.ReadableStream, to: NodeJS.WritableStream): void;
