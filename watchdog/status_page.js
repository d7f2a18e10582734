// Optional: sorting by column and filtering by name. The page reads the same without it.
(() => {
  const table = document.getElementById("resources");
  const body = table.tBodies[0];
  table.querySelectorAll("th[data-sort]").forEach((th) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.replaceChildren(button);
    button.addEventListener("click", () => {
      const descending = th.getAttribute("aria-sort") === "ascending";
      const numeric = th.dataset.sort === "number";
      table.querySelectorAll("th[aria-sort]").forEach((other) => other.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const key = (row) => row.cells[th.cellIndex].dataset.key;
      const rows = Array.from(body.rows).sort((a, b) => {
        const order = numeric ? Number(key(a)) - Number(key(b)) : key(a).localeCompare(key(b));
        return descending ? -order : order;
      });
      body.append(...rows);
    });
  });
  const search = document.getElementById("name-filter");
  search.parentElement.hidden = false;
  search.addEventListener("input", () => {
    const text = search.value.trim().toLowerCase();
    for (const row of body.rows) row.hidden = text !== "" && !row.dataset.name.includes(text);
  });
})();
