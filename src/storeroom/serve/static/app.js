// The one script: "/" focuses the search box, as on most sites with one.
document.addEventListener("keydown", (event) => {
  const search = document.getElementById("search");
  const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
  if (event.key === "/" && search && !typing) {
    event.preventDefault();
    search.focus();
  }
});
