// Rankings as DOM: rows keyed by player id, moved with a FLIP animation when ranks change.
// Player ids are arbitrary Unicode from game servers: they only ever reach the DOM as text.

const rowsByList = new WeakMap();
const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
const MOVE_MS = 450;

function newRow() {
  const row = document.createElement("li");
  row.className = "row";
  const rank = document.createElement("span");
  rank.className = "rank";
  const player = document.createElement("bdi");
  player.className = "player";
  const points = document.createElement("span");
  points.className = "points";
  row.append(rank, player, points);
  return row;
}

const numberFormat = new Intl.NumberFormat("en");

export function formatNumber(value) {
  return numberFormat.format(value);
}

// Renders `entries` into `list`; returns the rank changes of players already shown: [{userId, from, to}].
export function renderRanking(list, entries, { highlight = null } = {}) {
  const previous = rowsByList.get(list) ?? new Map();
  const animate = !reducedMotion.matches && list.isConnected;
  const before = new Map();
  if (animate) for (const [userId, row] of previous) before.set(userId, row.getBoundingClientRect().top);

  const current = new Map();
  const changes = [];
  for (const entry of entries) {
    const userId = String(entry.user_id);
    const row = previous.get(userId) ?? newRow();
    const [rankCell, playerCell, pointsCell] = row.children;
    const oldRank = row.dataset.rank ? Number(row.dataset.rank) : null;
    const oldPoints = row.dataset.points ? Number(row.dataset.points) : null;
    if (oldRank !== null && oldRank !== entry.rank) changes.push({ userId, from: oldRank, to: entry.rank });
    row.dataset.rank = String(entry.rank);
    row.dataset.points = String(entry.points);
    rankCell.textContent = String(entry.rank);
    playerCell.textContent = userId;
    pointsCell.textContent = formatNumber(entry.points);
    row.classList.toggle("podium", entry.rank <= 3);
    row.classList.toggle("you", highlight !== null && userId === highlight);
    if (highlight !== null && userId === highlight) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
    if (animate && oldPoints !== null && oldPoints !== entry.points) flash(row, "bump");
    if (animate && !previous.has(userId) && previous.size > 0) flash(row, "enter");
    current.set(userId, row);
    list.append(row); // moves an existing row into its new place
  }
  for (const [userId, row] of previous) if (!current.has(userId)) row.remove();
  rowsByList.set(list, current);

  if (animate) {
    for (const [userId, row] of current) {
      const top = before.get(userId);
      if (top === undefined) continue;
      const shift = top - row.getBoundingClientRect().top;
      if (Math.abs(shift) < 1) continue;
      row.style.transition = "none";
      row.style.transform = `translateY(${shift}px)`;
      row.getBoundingClientRect(); // apply the inverted position before animating back
      row.style.transition = `transform ${MOVE_MS}ms cubic-bezier(0.2, 0.8, 0.2, 1)`;
      row.style.transform = "";
    }
  }
  return changes;
}

function flash(row, name) {
  row.classList.remove(name);
  row.getBoundingClientRect();
  row.classList.add(name);
  row.addEventListener("animationend", () => row.classList.remove(name), { once: true });
}
