import { createSvixRouter } from "../router";

export const eventTypesRoutes = createSvixRouter();
