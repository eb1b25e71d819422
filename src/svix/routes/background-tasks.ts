import { createSvixRouter } from "../router";

export const backgroundTasksRoutes = createSvixRouter();
