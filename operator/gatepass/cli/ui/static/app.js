// Countdowns: every element with data-deadline (RFC 3339) shows the time left, once a second.
// Progressive enhancement only: without this script the page shows the same deadline as a UTC time.
(function () {
  "use strict";

  function remaining(deadline, now) {
    var seconds = Math.floor((deadline - now) / 1000);
    if (seconds <= 0) {
      return "passed";
    }
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var rest = seconds % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    if (hours) {
      return "in " + hours + "h " + two(minutes) + "m";
    }
    if (minutes) {
      return "in " + minutes + "m " + two(rest) + "s";
    }
    return "in " + rest + "s";
  }

  function tick() {
    var now = Date.now();
    var nodes = document.querySelectorAll("[data-deadline]");
    for (var i = 0; i < nodes.length; i++) {
      var deadline = Date.parse(nodes[i].getAttribute("data-deadline"));
      if (!isNaN(deadline)) {
        nodes[i].textContent = remaining(deadline, now);
      }
    }
  }

  document.addEventListener("DOMContentLoaded", tick);
  window.setInterval(tick, 1000);
}());
