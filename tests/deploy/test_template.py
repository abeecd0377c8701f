"""deploy/azure/azuredeploy.json, offline (no Azure account): what can be
proved by reading the template. What only Azure can tell (that it deploys,
that the image and API versions exist in a region) is listed in
deploy/azure/README.md as checked by reading only.
"""

import ipaddress
import json
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AZ = REPO / "deploy" / "azure"
TEMPLATE = AZ / "azuredeploy.json"
PARAMS = AZ / "azuredeploy.parameters.example.json"

# Every resource type the template may use, with the one API version kept
# for it. A new type or version is a decision: add it here with a reason.
KEPT = {
    "Microsoft.Network/networkSecurityGroups": "2023-09-01",
    "Microsoft.Network/publicIPAddresses": "2023-09-01",
    "Microsoft.Network/natGateways": "2023-09-01",       # outbound for VMs without a public LB
    "Microsoft.Network/virtualNetworks": "2023-09-01",
    "Microsoft.Network/loadBalancers": "2023-09-01",
    "Microsoft.Network/networkInterfaces": "2023-09-01",
    "Microsoft.Compute/virtualMachines": "2023-09-01",
    "Microsoft.Compute/virtualMachines/extensions": "2023-09-01",
    "Microsoft.Compute/virtualMachineScaleSets": "2023-09-01",
    "Microsoft.Storage/storageAccounts": "2023-01-01",
    "Microsoft.Storage/storageAccounts/fileServices/shares": "2023-01-01",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
}
VM_CONTRIBUTOR = "9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
VM_PORTS = (22, 8000, 9101)
REDIS_PORTS = (6379, 26379)     # redis-server, redis-sentinel (two nodes)


@pytest.fixture(scope="module")
def t():
    return json.loads(TEMPLATE.read_text())


def resources(t, rtype):
    return [r for r in t["resources"] if r["type"] == rtype]


def strings(node, path=()):
    """Every string in node with its path of keys."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from strings(v, path + (i,))
    elif isinstance(node, str):
        yield path, node


def secure_params(t):
    return [n for n, p in t["parameters"].items() if p["type"].lower() in ("securestring",
                                                                           "secureobject")]


def value(t, expr):
    """The value of the few expressions the network rules use."""
    if not (isinstance(expr, str) and expr.startswith("[")):
        return expr
    m = re.fullmatch(r"\[(string\()?(variables|parameters)\('([^']+)'\)\)?\]", expr)
    assert m, "cannot evaluate %r" % expr
    if m.group(2) == "variables":
        v = value(t, t["variables"][m.group(3)])
    else:
        v = t["parameters"][m.group(3)]["defaultValue"]
    return str(v) if m.group(1) else v


def test_valid_json_and_schema(t):
    assert t["$schema"].startswith("https://schema.management.azure.com/schemas/")
    assert t["$schema"].endswith("/deploymentTemplate.json#")
    for key in ("parameters", "variables", "resources", "outputs"):
        assert key in t
    p = json.loads(PARAMS.read_text())
    assert p["$schema"].endswith("/deploymentParameters.json#")
    unknown = set(p["parameters"]) - set(t["parameters"])
    assert not unknown, "example sets parameters the template lacks: %s" % unknown
    required = {n for n, d in t["parameters"].items() if "defaultValue" not in d}
    assert required <= set(p["parameters"]), "example lacks %s" % (required - set(p["parameters"]))
    # secure values come from a Key Vault, never written in the file
    for n in secure_params(t):
        if n in p["parameters"]:
            assert "reference" in p["parameters"][n] and "value" not in p["parameters"][n], n


def test_types_and_api_versions_kept(t):
    for r in t["resources"]:
        assert r["type"] in KEPT, "resource type %s is not on the kept list" % r["type"]
        assert r["apiVersion"] == KEPT[r["type"]], (r["type"], r["apiVersion"])
    # list* calls name their API version too
    for path, s in strings(t):
        for m in re.finditer(r"listKeys\([^,]+'Microsoft\.Storage/storageAccounts'[^)]*\)\), '([^']+)'\)", s):
            assert m.group(1) == KEPT["Microsoft.Storage/storageAccounts"], s


def test_no_secret_outside_protected_settings(t):
    secure = secure_params(t)
    assert {"adminPassword", "poolgateAdminToken", "sshHostCaPrivateKey",
            "redisPassword"} <= set(secure)
    secret = [re.compile(r"parameters\('%s'\)" % re.escape(n)) for n in secure]
    secret.append(re.compile(r"\blistKeys\(|\blistAccountSas\(|\blistServiceSas\("))
    seen = []
    for path, s in strings(t):
        if not any(rx.search(s) for rx in secret):
            continue
        seen.append(path)
        where = "/".join(map(str, path))
        assert path[0] == "resources", "a secret in %s" % where
        ok = "protectedSettings" in path or path[-2:] == ("osProfile", "adminPassword")
        assert ok, "a secret outside protectedSettings: %s = %s" % (where, s[:200])
        assert "settings" not in path, where
    assert len(seen) >= 3, "the secrets are not used where expected: %s" % seen
    # each secret of the node reaches it, through the extension's script only
    ext = resources(t, "Microsoft.Compute/virtualMachines/extensions")[0]
    script = ext["properties"]["protectedSettings"]["script"]
    for n, f in (("poolgateAdminToken", "admin.token"), ("sshHostCaPrivateKey", "ssh-host-ca"),
                 ("redisPassword", "redis.pass")):
        assert ("base64 -d > /etc/poolgate/secrets/%s <<EOF\n', base64(parameters('%s'))"
                % (f, n)) in script, n
    # plain settings hold nothing at all
    for path, s in strings(t):
        assert "settings" not in path, "plain extension settings: %s" % "/".join(map(str, path))
    # outputs and variables: no secret, no parameter that could hold one
    for section in ("variables", "outputs"):
        for path, s in strings(t[section]):
            assert not any(rx.search(s) for rx in secret), (section, path)


def test_expressions_write_real_newlines(t):
    """ARM's expression strings have no backslash escapes (only '' for a
    quote): a line break in a file the template writes (the settings, the
    extension's script) must be a newline character in the JSON value, or
    the file arrives as one line with a literal backslash-n in it."""
    for path, s in strings(t):
        if s.startswith("["):
            assert "\\n" not in s, "a literal backslash-n in %s" % "/".join(map(str, path))


def test_scale_set_has_no_public_load_balancer(t):
    vmss = resources(t, "Microsoft.Compute/virtualMachineScaleSets")
    assert len(vmss) == 1
    text = json.dumps(vmss[0]) + json.dumps(t["variables"]["vmssNics"])
    assert "loadBalancerBackendAddressPools" not in text
    assert "loadBalancerInboundNatPools" not in text
    assert "publicIPAddressConfiguration" not in text
    # any load balancer's pools are joined by the poolgate NICs only
    for lb in resources(t, "Microsoft.Network/loadBalancers"):
        pools = [p["name"] for p in lb["properties"]["backendAddressPools"]]
        assert pools == ["poolgate"]
    for nic in resources(t, "Microsoft.Network/networkInterfaces"):
        assert nic["name"].startswith("[concat(variables('gateVmName')")


def test_scale_set_settings(t):
    vmss = resources(t, "Microsoft.Compute/virtualMachineScaleSets")[0]
    props = vmss["properties"]
    assert props["orchestrationMode"] == "[parameters('orchestrationMode')]"
    assert set(t["parameters"]["orchestrationMode"]["allowedValues"]) == {"Uniform", "Flexible"}
    prof = props["virtualMachineProfile"]
    tn = prof["scheduledEventsProfile"]["terminateNotificationProfile"]
    assert tn["enable"] is True and re.fullmatch(r"PT([5-9]|1[0-5])M", tn["notBeforeTimeout"])
    assert prof["storageProfile"]["imageReference"] == "[parameters('dsvmImage')]"
    img = t["parameters"]["dsvmImage"]["defaultValue"]
    assert img["publisher"] == "microsoft-dsvm" and "ubuntu" in img["offer"]
    assert vmss["sku"]["tier"] == "Standard"
    # Flexible needs networkApiVersion; both get the same NICs
    assert "networkApiVersion" in prof["networkProfile"] and "vmssNics" in prof["networkProfile"]


def nsg(t, name):
    return next(r for r in resources(t, "Microsoft.Network/networkSecurityGroups")
                if r["name"] == "[variables('%s')]" % name)


def first_match(t, group, source, port):
    """What the group's inbound rules decide for TCP from source to port:
    the first rule by priority whose source (the prefix itself or *) and
    port match, as Azure evaluates them."""
    def ports(p):
        rngs = p.get("destinationPortRanges") or [p.get("destinationPortRange")]
        out = []
        for r in rngs:
            r = value(t, r)
            if r == "*":
                return None
            lo, _, hi = str(r).partition("-")
            out.append((int(lo), int(hi or lo)))
        return out

    rules = sorted((r["properties"] for r in group["properties"]["securityRules"]
                    if r["properties"]["direction"] == "Inbound"), key=lambda p: p["priority"])
    for p in rules:
        src = value(t, p["sourceAddressPrefix"])
        pr = ports(p)
        if src in (source, "*") and (pr is None or any(lo <= port <= hi for lo, hi in pr)):
            return p["access"]
    # Azure's default rules: AllowVnetInBound, AllowAzureLoadBalancerInBound,
    # DenyAllInBound; any source but the internet counts as one of the first
    return "Deny" if source == "Internet" else "Allow"


def test_nsg_denies_vm_ports_from_internet(t):
    pool_nsg = nsg(t, "poolNsgName")
    gate_prefix = value(t, "[variables('gatePrefix')]")
    for port in VM_PORTS:
        assert first_match(t, pool_nsg, "Internet", port) == "Deny", port
        assert first_match(t, pool_nsg, "VirtualNetwork", port) == "Deny", port
        assert first_match(t, pool_nsg, gate_prefix, port) == "Allow", port
    assert str(t["variables"]["agentPort"]) == "9101"


def test_nsg_redis_only_between_the_nodes(t):
    """Redis and Sentinel: from the poolgate subnet, to it; never from the
    internet, the scale set's subnet, the rest of the network or the load
    balancer (an explicit deny before Azure's default allow of the VNet)."""
    gate_nsg = nsg(t, "gateNsgName")
    gate_prefix = value(t, "[variables('gatePrefix')]")
    pool_prefix = value(t, "[variables('poolPrefix')]")
    for port in REDIS_PORTS:
        assert first_match(t, gate_nsg, gate_prefix, port) == "Allow", port
        for source in ("Internet", "VirtualNetwork", pool_prefix, "AzureLoadBalancer",
                       "10.40.4.7/32"):
            assert first_match(t, gate_nsg, source, port) == "Deny", (source, port)
    allow = [r["properties"] for r in gate_nsg["properties"]["securityRules"]
             if r["properties"]["access"] == "Allow" and
             {"6379", "26379"} & set(r["properties"].get("destinationPortRanges", []))]
    assert len(allow) == 1 and value(t, allow[0]["destinationAddressPrefix"]) == gate_prefix
    assert allow[0]["protocol"] == "Tcp"
    # no other rule opens the ports to anyone (no * port range allowed)
    for r in gate_nsg["properties"]["securityRules"]:
        p = r["properties"]
        if p["access"] == "Allow":
            assert p.get("destinationPortRange") != "*", r["name"]


def test_ha_nodes_addresses_and_settings(t):
    """The nodes' private addresses are fixed (Redis binds them, Sentinel
    and poolgate name them) and every node learns both and its index."""
    addrs = t["variables"]["gateAddresses"]
    assert len(addrs) == 2 and len(set(addrs)) == 2
    net = ipaddress.ip_network(value(t, "[variables('gatePrefix')]"))
    for a in addrs:
        a = ipaddress.ip_address(a)
        # Azure keeps the first four and the last address of a subnet
        assert a in net and int(a) - int(net.network_address) >= 4 and a != net[-1]
    nic = resources(t, "Microsoft.Network/networkInterfaces")[0]
    ipc = nic["properties"]["ipConfigurations"][0]["properties"]
    assert ipc["privateIPAllocationMethod"] == "Static"
    assert ipc["privateIPAddress"] == "[variables('gateAddresses')[copyIndex()]]"
    assert ("'\nGATE_ADDRS=', variables('gateAddresses')[0], ',', "
            "variables('gateAddresses')[1], '\n')]") in t["variables"]["gateSettings"]
    vm = resources(t, "Microsoft.Compute/virtualMachines")[0]
    assert vm["copy"]["count"] == nic["copy"]["count"] == "[parameters('poolgateNodes')]"
    assert ("base64(concat(variables('gateSettings'), 'NODE_INDEX=', string(copyIndex()), "
            "'\n'))") in vm["properties"]["osProfile"]["customData"]


def test_nsg_lets_the_internet_reach_only_poolgate(t):
    gate_nsg = next(r for r in resources(t, "Microsoft.Network/networkSecurityGroups")
                    if r["name"] == "[variables('gateNsgName')]")
    allowed = {}
    for r in gate_nsg["properties"]["securityRules"]:
        p = r["properties"]
        if p["direction"] == "Inbound" and p["access"] == "Allow":
            rng = p.get("destinationPortRanges") or [p["destinationPortRange"]]
            allowed[p["sourceAddressPrefix"]] = sorted(rng)
    assert allowed == {"[parameters('allowedClientPrefix')]": ["22", "443"],
                       "[parameters('adminClientPrefix')]": ["2200"],
                       "AzureLoadBalancer": ["9100"],
                       "[variables('gatePrefix')]": ["26379", "6379"]}, allowed


def test_standard_skus(t):
    for rtype in ("Microsoft.Network/publicIPAddresses", "Microsoft.Network/loadBalancers",
                  "Microsoft.Network/natGateways"):
        for r in resources(t, rtype):
            assert r["sku"]["name"] == "Standard", (rtype, r["name"], r["sku"])
    assert "Basic" not in TEMPLATE.read_text()


def test_ha_load_balancer(t):
    lb = resources(t, "Microsoft.Network/loadBalancers")[0]
    assert lb["condition"] == "[variables('ha')]"
    assert t["parameters"]["poolgateNodes"]["allowedValues"] == [1, 2]
    probe = lb["properties"]["probes"][0]["properties"]
    assert probe["protocol"] == "Http" and probe["requestPath"] == "/healthz" and probe["port"] == 9100
    rules = lb["properties"]["loadBalancingRules"]
    assert {r["properties"]["frontendPort"] for r in rules} == {22, 443}
    assert all(r["properties"]["loadDistribution"] == "SourceIP" for r in rules)


def test_managed_identity_and_role(t):
    vm = resources(t, "Microsoft.Compute/virtualMachines")[0]
    assert vm["identity"]["type"] == "SystemAssigned"
    img = vm["properties"]["storageProfile"]["imageReference"]
    assert img["publisher"] == "Debian" and img["offer"] == "debian-12"
    roles = resources(t, "Microsoft.Authorization/roleAssignments")
    on_set = [r for r in roles if "condition" not in r]
    assert len(on_set) == 1
    assert on_set[0]["scope"] == "[concat('Microsoft.Compute/virtualMachineScaleSets/', variables('vmssName'))]"
    for r in roles:
        assert VM_CONTRIBUTOR in r["properties"]["roleDefinitionId"]
        assert ".identity.principalId" in r["properties"]["principalId"]


def test_storage_and_share(t):
    sa = resources(t, "Microsoft.Storage/storageAccounts")[0]
    p = sa["properties"]
    assert p["minimumTlsVersion"] == "TLS1_2" and p["supportsHttpsTrafficOnly"] is True
    assert p["allowBlobPublicAccess"] is False and p["networkAcls"]["defaultAction"] == "Deny"
    share = resources(t, "Microsoft.Storage/storageAccounts/fileServices/shares")[0]
    assert share["name"].endswith("'/default/', parameters('shareName'))]")


def test_cloud_init_embedded():
    p = subprocess.run([str(AZ / "embed-cloud-init"), "--check"], stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
