import { createSvixRouter } from "../router";

export const applicationsRoutes = createSvixRouter();
