import { createSvixRouter } from "../router";

export const endpointsRoutes = createSvixRouter();
