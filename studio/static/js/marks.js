// A note's text with marks (the server cuts it into segments; each becomes a text node, or a
// <mark> around one): evidence sentences in four strengths, or each field's colour.

import { h } from "./dom.js";
import { fieldClass } from "./answers.js";

export function markedText(segments, fieldNames = []) {
  return segments.map((segment) => {
    if (!segment.marks.length) return document.createTextNode(segment.text);
    const evidence = segment.marks.find((m) => m.tag === "evidence");
    if (evidence) {
      const strength = Math.min(4, Math.max(1, Math.ceil(evidence.weight * 4)));
      return h("mark", { class: `ev${strength}`, title: "evidence: the answer's probability drops without this sentence" }, segment.text);
    }
    const tags = segment.marks.map((m) => m.tag);
    const index = Math.max(0, fieldNames.indexOf(tags[0]));
    return h("mark", { class: `field-mark ${fieldClass(index)}`, title: tags.join(", ") }, segment.text);
  });
}
