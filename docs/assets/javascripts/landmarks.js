/*
 * Names each code block's toolbar. Material's script gives every code block a <nav> (its copy
 * button) and no name, so a screen reader's list of landmarks shows a row of identical
 * "navigation" entries (axe's landmark-unique). Each gets a name of its own: "Code block 3".
 *
 * Runs on Material's `document$`, which emits once the page's components (the toolbars among them)
 * are mounted, and again after each instant navigation.
 */
document$.subscribe(() => {
  document.querySelectorAll(".md-code__nav").forEach((toolbar, index) => {
    toolbar.setAttribute("aria-label", `Code block ${index + 1}`);
  });
});
