// Ambient types for the @xmpp/* packages jingled composes (they ship none).
// Deliberately narrow: only what src/xmpp uses.

declare module "@xmpp/client-core" {
  import type { Element } from "ltx";
  import { EventEmitter } from "node:events";
  export interface JID {
    local: string;
    domain: string;
    resource: string;
    bare(): JID;
    toString(): string;
  }
  export class Client extends EventEmitter {
    constructor(options: { service?: string; domain?: string; lang?: string });
    jid: JID | null;
    status: string;
    socket: unknown;
    options: { service?: string; domain?: string; lang?: string };
    transports: unknown[];
    start(): Promise<JID>;
    stop(): Promise<void>;
    send(el: Element): Promise<void>;
    sendReceive(el: Element, timeout?: number): Promise<Element>;
    isSecure(): boolean;
    restart(): Promise<void>;
    disconnect(timeout?: number): Promise<void>;
    _attachSocket(socket: unknown): void;
    _detachSocket(): void;
    /** Sets `status` and emits it (and an event of that name) when it changes. */
    _status(status: string, ...args: unknown[]): void;
    /** Opens the socket (replaceable: src/xmpp/connection.ts dials its own). */
    connect(service?: string): Promise<unknown>;
    Transport: unknown;
    Socket: unknown;
    Parser: unknown;
  }
  export function jid(...args: string[]): JID;
  export function xml(name: string, attrs?: Record<string, string | undefined> | null, ...children: unknown[]): Element;
}

declare module "@xmpp/jid" {
  import type { JID } from "@xmpp/client-core";
  export default function jid(...args: string[]): JID;
  /** Throws a TypeError when there is no domain. */
  export function parse(s: string): JID;
}

declare module "@xmpp/reconnect" {
  import { EventEmitter } from "node:events";
  export interface Reconnect extends EventEmitter {
    delay: number;
    start(): void;
    stop(): void;
    /** connect() then open() with the entity's options. */
    reconnect(): Promise<void>;
  }
  export default function reconnect(deps: { entity: unknown }): Reconnect;
}

declare module "@xmpp/tcp" {
  export default function tcp(deps: { entity: unknown }): void;
}

declare module "@xmpp/middleware" {
  import type { Element } from "ltx";
  export interface IncomingContext {
    stanza: Element;
    name: string;
    type?: string;
    id?: string;
    from: { toString(): string } | null;
    to: { toString(): string } | null;
    element?: Element;
  }
  export type Middleware = (ctx: IncomingContext, next: () => Promise<unknown>) => unknown;
  export interface MiddlewareApi {
    use(fn: Middleware): Middleware;
    filter(fn: Middleware): Middleware;
  }
  export default function middleware(deps: { entity: unknown }): MiddlewareApi;
}

declare module "@xmpp/stream-features" {
  import type { MiddlewareApi } from "@xmpp/middleware";
  import type { Element } from "ltx";
  export interface StreamFeatures {
    use(
      name: string,
      ns: string,
      fn: (ctx: { entity: import("@xmpp/client-core").Client }, next: () => Promise<unknown>, feature: Element) => unknown,
    ): void;
  }
  export default function streamFeatures(deps: { middleware: MiddlewareApi }): StreamFeatures;
}

declare module "@xmpp/iq/caller.js" {
  import type { Element } from "ltx";
  export interface IqCaller {
    request(stanza: Element, timeout?: number): Promise<Element>;
  }
  export default function iqCaller(deps: { middleware: unknown; entity: unknown }): IqCaller;
}

declare module "@xmpp/iq/callee.js" {
  import type { Element } from "ltx";
  import type { IncomingContext } from "@xmpp/middleware";
  export interface IqCallee {
    get(ns: string, name: string, handler: (ctx: IncomingContext) => Element | Promise<Element> | object): void;
    set(ns: string, name: string, handler: (ctx: IncomingContext) => Element | Promise<Element> | object): void;
  }
  export default function iqCallee(deps: { middleware: unknown; entity: unknown }): IqCallee;
}

declare module "@xmpp/sasl" {
  export type OnAuthenticate = (
    done: (credentials: { username: string; password: string; [key: string]: unknown }, mechanism: string) => Promise<void>,
    mechanisms: string[],
    fast: unknown,
    entity: import("@xmpp/client-core").Client,
  ) => Promise<void>;
  export default function sasl(deps: { streamFeatures: unknown; saslFactory: unknown }, onAuthenticate: OnAuthenticate): void;
}

declare module "@xmpp/sasl-plain" {
  export default function plain(factory: unknown): void;
}

declare module "@xmpp/resource-binding" {
  export default function resourceBinding(deps: { iqCaller: unknown; streamFeatures: unknown }, resource?: string): void;
}

declare module "@xmpp/stream-management" {
  import { EventEmitter } from "node:events";
  export interface StreamManagement extends EventEmitter {
    enabled: boolean;
    id: string;
    timeout: number;
    requestAckInterval: number;
  }
  export default function streamManagement(deps: {
    streamFeatures: unknown;
    entity: unknown;
    middleware: unknown;
    bind2?: unknown;
    sasl2?: unknown;
  }): StreamManagement;
}

declare module "@xmpp/tls/lib/Socket.js" {
  import { EventEmitter } from "node:events";
  import type { ConnectionOptions } from "node:tls";
  export default class Socket extends EventEmitter {
    secure: boolean;
    socket: import("node:tls").TLSSocket | null;
    connect(options: ConnectionOptions): void;
    _attachSocket(socket: import("node:tls").TLSSocket): void;
  }
}

declare module "@xmpp/events" {
  export function promise<T = unknown>(emitter: unknown, event: string, rejectEvent?: string, timeout?: number): Promise<T>;
}

declare module "saslmechanisms" {
  export default class SASLFactory {
    use(mech: unknown): this;
    use(name: string, mech: unknown): this;
  }
}
