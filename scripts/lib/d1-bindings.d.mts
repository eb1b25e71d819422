export declare function d1Bindings(toml: string): string[];
