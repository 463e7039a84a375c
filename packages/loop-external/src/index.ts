// @sansmqtt/loop-external: filled by a later issue (the IO layer and the Paho-style client build on @sansmqtt/core).
export {};
