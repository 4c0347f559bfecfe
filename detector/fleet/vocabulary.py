"""The background fleet's vocabulary: vendors and their programs, actions, destinations, ports and address
ranges. Everything here is the bulk's own; planted cases bring their own names and addresses."""

from __future__ import annotations

COMMON_VENDORS: list[tuple[str, list[str]]] = [
    ("Microsoft Corporation", ["svchost.exe", "MsMpEng.exe", "msedge.exe", "MsSense.exe"]),
    ("Google LLC", ["chrome.exe", "GoogleUpdate.exe", "chrome.exe", "GoogleUpdate.exe"]),
    ("Mozilla Corporation", ["firefox.exe", "maintenanceservice.exe", "firefox.exe", "firefox.exe"]),
    ("Adobe Inc.", ["AdobeARM.exe", "AcroCEF.exe", "AdobeARM.exe", "Acrobat.exe"]),
]
MID_VENDORS: list[tuple[str, list[str]]] = [
    ("VMware, Inc.", ["vmtoolsd.exe", "VGAuthService.exe", "vmtoolsd.exe", "vmware-usbarbitrator64.exe"]),
    ("Oracle Corporation", ["java.exe", "javaw.exe", "java.exe", "jucheck.exe"]),
    ("Veeam Software Group GmbH", ["Veeam.Backup.Service.exe", "VeeamAgent.exe", "VeeamAgent.exe", "Veeam.exe"]),
    ("Splunk Inc.", ["splunkd.exe", "splunk-winevtlog.exe", "splunkd.exe", "splunk-admon.exe"]),
    ("CrowdStrike, Inc.", ["CSFalconService.exe", "CSFalconContainer.exe", "CSFalconService.exe", "csagent.exe"]),
    ("Citrix Systems, Inc.", ["CitrixReceiverUpdater.exe", "wfica32.exe", "Receiver.exe", "SelfService.exe"]),
]
WORKSTATION_APPS: list[tuple[str, list[str]]] = [
    ("Zoom Video Communications, Inc.", ["Zoom.exe", "Zoom.exe", "ZoomOutlookIMPlugin.exe", "Zoom.exe"]),
    ("Slack Technologies, LLC", ["slack.exe", "slack.exe", "slack.exe", "slack.exe"]),
    ("Spotify AB", ["Spotify.exe", "Spotify.exe", "Spotify.exe", "SpotifyWebHelper.exe"]),
    ("Dropbox, Inc.", ["Dropbox.exe", "DropboxUpdate.exe", "Dropbox.exe", "Dropbox.exe"]),
]
RARE_PREFIXES = [
    "Contoso", "Fabrikam", "Northwind", "Tailspin", "Woodgrove", "Litware", "Proseware", "Wingtip", "Lucerne",
    "Humongous", "Trey", "Coho", "Alpine", "Relecloud", "Adatum", "Fourth Coffee", "Wide World", "Blue Yonder",
    "Graphic Design", "Southridge", "Datum", "Vanarsdel", "Consolidated", "Margie",
]  # fmt: skip
RARE_PRODUCTS = [
    "Backup", "Monitoring", "Remote Support", "Asset Inventory", "Print", "License", "Scanner", "Telemetry",
    "Deployment", "Patch", "Sync", "Archive", "Metering", "Helpdesk", "Vault", "Gateway",
]  # fmt: skip
RARE_SUFFIXES = ["Ltd", "Inc.", "GmbH", "LLC", "Software Inc.", "Systems Ltd", "S.A.", "B.V.", "Corp."]

ACTION_WEIGHTS = [
    ("ConnectionSuccess", 780),
    ("ConnectionFailed", 80),
    ("ConnectionRequest", 40),
    ("InboundConnectionAccepted", 40),
    ("ConnectionAttempt", 30),
    ("ConnectionFound", 20),
    ("HttpConnectionInspected", 14),
    ("SslConnectionInspected", 10),
    ("DnsConnectionInspected", 10),
]  # sums to 1024

# Well-known destinations: (RemoteIP, RemoteUrl, RemotePort). Hit by most devices.
POPULAR_DESTINATIONS: list[tuple[str, str | None, int]] = [
    ("20.190.151.7", "login.microsoftonline.com", 443),
    ("13.107.42.14", "config.edge.skype.com", 443),
    ("52.168.117.173", "winatp-gw-eus.microsoft.com", 443),
    ("13.89.179.12", "settings-win.data.microsoft.com", 443),
    ("40.126.31.73", "login.live.com", 443),
    ("52.113.194.132", "teams.microsoft.com", 443),
    ("23.47.168.160", "www.msftconnecttest.com", 80),
    ("20.42.65.92", "v10.events.data.microsoft.com", 443),
    ("13.107.4.52", "www.msftncsi.com", 80),
    ("142.250.72.100", "www.google.com", 443),
    ("142.250.80.3", "update.googleapis.com", 443),
    ("172.217.14.110", "clients2.google.com", 443),
    ("34.107.221.82", "detectportal.firefox.com", 80),
    ("44.236.72.93", "aus5.mozilla.org", 443),
    ("8.8.8.8", None, 53),
    ("1.1.1.1", None, 53),
    ("2603:1030:800:5::bfee:a418", "login.microsoftonline.com", 443),
    ("2620:1ec:c11::200", "www.bing.com", 443),
    ("151.101.1.69", "stackoverflow.com", 443),
    ("140.82.112.3", "github.com", 443),
    ("185.199.108.133", "raw.githubusercontent.com", 443),
    ("104.16.123.96", "www.cloudflare.com", 443),
    ("23.215.0.136", "ctldl.windowsupdate.com", 80),
    ("13.107.246.40", "officecdn.microsoft.com", 443),
    ("52.96.165.18", "outlook.office365.com", 443),
    ("52.109.12.19", "nexus.officeapps.live.com", 443),
    ("2a04:4e42::485", "pypi.org", 443),
    ("54.239.28.85", "aws.amazon.com", 443),
    ("35.186.224.25", "api.spotify.com", 443),
    ("162.125.19.131", "client.dropbox.com", 443),
]
OTHER_TYPE_DESTINATIONS: list[tuple[str, str, int]] = [
    ("169.254.169.254", "Reserved", 80),
    ("169.254.169.254", "Reserved", 80),
    ("0.0.0.0", "Reserved", 0),
    ("224.0.0.251", "Reserved", 5353),
    ("ff02::fb", "Reserved", 5353),
    ("2001:0:4137:9e76:2087:77a:53ef:7527", "Teredo", 3544),
    ("255.255.255.255", "Broadcast", 67),
    ("10.255.255.255", "Broadcast", 137),
]
SERVICE_PORTS = [445, 135, 389, 636, 88, 53, 3389, 5985, 1433, 8080, 22, 9389, 443, 80, 139, 3268]
POOL_PORTS = [443] * 14 + [80] * 3 + [8443, 22, 25]
POOL_DOMAINS = [
    "cloudfront.net", "akamaiedge.net", "azureedge.net", "fastly.net", "amazonaws.com", "googleusercontent.com",
    "cdn77.org", "edgekey.net", "trafficmanager.net", "herokuapp.com", "digitaloceanspaces.com", "b-cdn.net",
]  # fmt: skip
TAIL_DOMAINS = ["example-cdn.net", "svc-hosting.com", "update-mirror.org", "files-dl.io", "api-metrics.net"]
# First octets of bulk public IPv4 addresses: no private, loopback, link-local, multicast, CGNAT-heavy or TEST-NET
# space (198.51.100/24 and 203.0.113/24 are left to planted cases; 192.x and 172.x are left out altogether).
PUBLIC_FIRST_OCTETS = [
    13, 20, 23, 31, 34, 35, 40, 45, 46, 51, 52, 54, 62, 64, 66, 69, 72, 77, 80, 81, 85, 88, 91, 93, 95, 104,
    107, 108, 109, 128, 130, 141, 142, 146, 151, 155, 157, 162, 176, 178, 185, 188, 193, 194, 195, 199, 208,
    209, 212, 213, 216, 217,
]  # fmt: skip

NULL_VENDOR, EMPTY_VENDOR = 1, 2  # 1-based vendor ids of the missing company names

# ---------------------------------------------------------------------------------------------------- file events
# Folders files are written to: key -> (before the user name, after it); a folder without a user has "" after.
FILE_FOLDERS: dict[str, tuple[str, str]] = {
    "downloads": ("C:\\Users\\", "\\Downloads\\"),
    "documents": ("C:\\Users\\", "\\Documents\\"),
    "desktop": ("C:\\Users\\", "\\Desktop\\"),
    "temp": ("C:\\Users\\", "\\AppData\\Local\\Temp\\"),
    "chrome": ("C:\\Users\\", "\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Cache\\Cache_Data\\"),
    "edge": ("C:\\Users\\", "\\AppData\\Local\\Microsoft\\Edge\\User Data\\Default\\"),
    "outlook": ("C:\\Users\\", "\\AppData\\Local\\Microsoft\\Windows\\INetCache\\Content.Outlook\\Q7W2K1ZD\\"),
    "onedrive": ("C:\\Users\\", "\\OneDrive - Contoso\\Shared\\"),
    "recent": ("C:\\Users\\", "\\AppData\\Roaming\\Microsoft\\Windows\\Recent\\"),
    "rdp_clipboard": ("C:\\Users\\", "\\AppData\\Local\\Temp\\_TS8F2A\\"),  # the RDP client's copies
    "from_remote": ("C:\\Users\\", "\\Desktop\\from remote\\"),
    "windows_temp": ("C:\\Windows\\Temp\\", ""),
    "prefetch": ("C:\\Windows\\Prefetch\\", ""),
    "updates": ("C:\\Windows\\SoftwareDistribution\\Download\\", ""),
    "defender": ("C:\\ProgramData\\Microsoft\\Windows Defender\\Scans\\", ""),
    "logs": ("C:\\Windows\\System32\\LogFiles\\", ""),
    "share": ("D:\\Shares\\Finance\\", ""),
}
# Processes writing files: (InitiatingProcessFileName, its folder, weight out of 1024, workstations only, runs as
# a service account, the suffix a file it renames had, its 8 folder slots). Microsoft's Remote Desktop client
# (mstsc.exe) is a small share, in both spellings Defender reports. The weights sum to 1024.
FILE_PROCESSES: list[tuple[str, str, int, bool, bool, str, tuple[str, ...]]] = [
    ("explorer.exe", "C:\\Windows", 300, True, False, ".tmp",
     ("downloads", "documents", "desktop", "recent", "onedrive", "temp", "share", "documents")),
    ("chrome.exe", "C:\\Program Files\\Google\\Chrome\\Application", 200, True, False, ".crdownload",
     ("downloads", "downloads", "downloads", "downloads", "chrome", "chrome", "chrome", "temp")),
    ("svchost.exe", "C:\\Windows\\System32", 160, False, True, ".tmp",
     ("windows_temp", "prefetch", "updates", "logs", "windows_temp", "prefetch", "logs", "temp")),
    ("msedge.exe", "C:\\Program Files (x86)\\Microsoft\\Edge\\Application", 150, True, False, ".partial",
     ("downloads", "downloads", "downloads", "downloads", "edge", "edge", "edge", "temp")),
    ("OUTLOOK.EXE", "C:\\Program Files\\Microsoft Office\\root\\Office16", 40, True, False, ".tmp",
     ("outlook", "outlook", "outlook", "outlook", "temp", "documents", "downloads", "desktop")),
    ("OneDrive.exe", "C:\\Program Files\\Microsoft OneDrive", 40, True, False, ".~tmp",
     ("onedrive", "onedrive", "onedrive", "onedrive", "onedrive", "onedrive", "documents", "documents")),
    ("MsMpEng.exe", "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.24090.11-0", 30, False, True,
     ".tmp", ("defender", "defender", "defender", "defender", "windows_temp", "windows_temp", "temp", "logs")),
    ("TiWorker.exe", "C:\\Windows\\WinSxS\\amd64_microsoft-windows-servicingstack_31bf3856ad364e35", 30, False,
     True, ".tmp", ("updates", "updates", "updates", "updates", "logs", "logs", "windows_temp", "windows_temp")),
    ("ms-teams.exe", "C:\\Program Files\\WindowsApps\\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe", 24, True,
     False, ".tmp", ("downloads", "downloads", "temp", "temp", "documents", "desktop", "downloads", "temp")),
    ("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0", 20, False, False, ".tmp",
     ("temp", "temp", "windows_temp", "documents", "downloads", "logs", "temp", "windows_temp")),
    ("7zFM.exe", "C:\\Program Files\\7-Zip", 10, True, False, ".tmp",
     ("temp", "temp", "downloads", "documents", "desktop", "downloads", "temp", "documents")),
    ("notepad.exe", "C:\\Windows\\System32", 10, True, False, ".tmp",
     ("documents", "documents", "desktop", "desktop", "downloads", "temp", "documents", "desktop")),
    ("mstsc.exe", "C:\\Windows\\System32", 8, True, False, ".tmp",
     ("rdp_clipboard", "rdp_clipboard", "rdp_clipboard", "rdp_clipboard", "from_remote", "from_remote", "desktop",
      "downloads")),
    ("MSTSC.EXE", "C:\\WINDOWS\\system32", 2, True, False, ".tmp",
     ("rdp_clipboard", "rdp_clipboard", "from_remote", "from_remote", "desktop", "desktop", "downloads", "temp")),
]  # fmt: skip
MSTSC_NAMES = ("mstsc.exe", "MSTSC.EXE")  # the bulk's spellings of the Remote Desktop client
FILE_ACTION_WEIGHTS = [("FileCreated", 460), ("FileModified", 360), ("FileRenamed", 124), ("FileDeleted", 80)]
# File name stems and extensions: the bulk's file pool combines them. Extensions include near misses of the
# usual watch lists (.dllx, .jsonl, .exe.config, .js.map), other cases (.DLL, .Exe) and names without one.
FILE_STEMS = [
    "report", "invoice_2026", "Q3 budget", "setup", "update", "msvcp140", "vcruntime140", "chrome_elf", "readme",
    "notes", "photo_0412", "screenshot 2026-11-19 101500", "meeting", "agenda", "data", "export", "backup",
    "install", "config", "index", "main", "bundle", "app", "log", "settings", "~WRL0003", "thumbcache_256",
    "desktop", "Remote Desktop Connection", "support-tool", "KB5044284", "d3dcompiler_47", "libcrypto-3-x64",
    "contract.final", "résumé", "payload", "run", "launcher", "font-cache", "cv_v2.1",
]  # fmt: skip
FILE_EXTENSIONS = [
    ".docx", ".xlsx", ".pdf", ".txt", ".log", ".tmp", ".json", ".jsonl", ".js", ".js.map", ".dll", ".DLL",
    ".dllx", ".exe", ".Exe", ".exe.config", ".lnk", ".url", ".png", ".jpg", ".svg", ".html", ".hta", ".zip",
    ".7z", ".msi", ".cab", ".ps1", ".bat", ".cmd", ".vbs", ".cpl", ".com", ".pif", ".etl", ".pf", ".db", ".ini",
    ".dat", ".xml", ".csv", ".pptx", ".msg", ".crx", ".ttf", "",
]  # fmt: skip
FIRST_NAMES = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj"]
LAST_NAMES = ["smith", "jones", "garcia", "miller", "davis", "martin", "lee", "walker", "young", "king", "wright"]
