import { createSvixRouter } from "../router";

export const attemptsRoutes = createSvixRouter();
