/** cardloop's version, as package.json gives it (a test keeps the two equal): reports carry it. */
export const CARDLOOP_VERSION = "0.2.0";
