// The VM page's heavy parts, loaded on demand (a chunk of its own).
export { openConsole } from "./console.js";
export { cpuChart } from "./chart.js";
export { deviceTables } from "./devices.js";
export { cloneBox } from "./clone.js";
export { snapshotBox } from "./snapshots.js";
export { followTask } from "./tasks.js";
export { diskRows, nicRows } from "./devrows.js";
export { editForm } from "./edit.js";
