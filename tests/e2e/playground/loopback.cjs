// Preloaded into the Agents Playground (NODE_OPTIONS=--require) by tests/e2e/test_playground.py.
// The Playground's CLI has no host option and listens on every interface; it is a Teams
// look-alike that accepts anyone and drives the bot as its user, so the test binds every server
// it opens to the loopback address instead. Nothing else about it changes.
"use strict";

const net = require("net");

const LOOPBACK = "127.0.0.1";
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (typeof first === "number" || (typeof first === "string" && /^\d+$/.test(first))) {
    // listen(port[, host][, backlog][, callback]): a missing or empty host means "all".
    if (args.length < 2 || typeof args[1] === "function") {
      args.splice(1, 0, LOOPBACK);
    } else if (args[1] === undefined || args[1] === null || args[1] === "") {
      args[1] = LOOPBACK;
    }
  } else if (first && typeof first === "object" && first.path === undefined && !first.host) {
    // listen(options[, callback])
    args[0] = { ...first, host: LOOPBACK };
  }
  return listen.apply(this, args);
};
