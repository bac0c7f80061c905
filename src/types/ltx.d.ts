// Ambient types for ltx and @xmpp/xml (neither ships declarations).
// Only what jingled uses is declared.

declare module "ltx" {
  export type Node = Element | string;
  export interface Attrs {
    [name: string]: string | number | boolean | undefined | null;
  }
  export class Element {
    constructor(name: string, attrs?: Attrs);
    name: string;
    attrs: Record<string, string>;
    children: Node[];
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getName(): string;
    getNS(): string | undefined;
    getAttr(name: string, xmlns?: string): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildElements(): Element[];
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    text(): string;
    text(val: string): Element;
    attr(name: string): string | undefined;
    attr(name: string, val: string | number): Element;
    c(name: string, attrs?: Attrs): Element;
    cnode(child: Element): Element;
    append(...nodes: Array<Element | string>): Element;
    t(text: string): Element;
    up(): Element;
    root(): Element;
    remove(el: Element | string, xmlns?: string): Element;
    toString(): string;
    clone(): Element;
  }
  export function parse(xml: string): Element;
  export function createElement(name: string, attrs?: Attrs | null, ...children: Array<Node | Node[] | undefined | null | false>): Element;
  export function equal(a: Element, b: Element): boolean;
  export function escapeXML(s: string): string;
  export function escapeXMLText(s: string): string;
  export function isElement(n: unknown): n is Element;
  export function isText(n: unknown): n is string;
}

declare module "@xmpp/xml" {
  import type { Attrs, Element, Node } from "ltx";
  export type { Element };
  export function xml(name: string, attrs?: Attrs | null, ...children: Array<Node | Node[] | undefined | null | false>): Element;
  export default xml;
}
