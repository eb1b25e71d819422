import { createRouter } from "../shared";
import { createEvents } from "./create";
import { readEvents } from "./read";

export const eventRoutes = createRouter().route("/", createEvents).route("/", readEvents);
