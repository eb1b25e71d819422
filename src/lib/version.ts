import packageJson from "../../package.json";

export const VERSION: string = packageJson.version;
export const DEFAULT_USER_AGENT = `Edgehook/${VERSION}`;
