// The print sheets' "Print" button (an external file: the Content-Security-Policy allows no
// inline handlers).
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});
