import { createSvixRouter } from "../router";

export const messagesRoutes = createSvixRouter();
