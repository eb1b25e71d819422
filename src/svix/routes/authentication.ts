import { createSvixRouter } from "../router";

export const authenticationRoutes = createSvixRouter();
