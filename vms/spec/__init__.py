"""What a GPU VM request is, and whether it is acceptable: pure data and rules, no database.

The request form and `manage.py vm_manifest` both end in a `VmSpec`. The form builds it from
its cleaned data; the command builds it from a YAML document with `parse_spec_document`. Either
way `validate_spec` then applies every rule the portal knows without a database. The caller
still checks what needs one: that the team exists and the user belongs to it, and that no other
VM of the team has the same name.

Naming of derived objects (see `vms.render.manifests.object_names`): a VM named N is a `VMInstance` N
whose KubeVirt VirtualMachine and Service are `vm-instance-N`; its system disk is the `VMDisk`
`N-os` and an additional disk D is the `VMDisk` `N-D`, whose DataVolumes are `vm-disk-N-os` and
`vm-disk-N-D`. Cozystack allows 41 characters for a VM name and 45 for a disk, so the rules
below require N to be at most 41 characters and `N-D` at most 45 (a 41-character VM name leaves
room for the system disk's `-os` suffix but only three characters for other disk names). The
legacy 0.x `VirtualMachine` N has one disk, and its KubeVirt VirtualMachine, DataVolume and
Service are all `virtual-machine-N`; its CRD allows 37 characters for N.

Spec document format (`manage.py vm_manifest SPEC.yaml`), one YAML mapping:

    name: llm-training            # required; DNS-1035 label, at most 41 characters (37 on 0.x)
    team: research                # required; the team's name
    instance_type: g8.4xlarge     # catalogue instance type; its series sets the GPU count
    gpu_model: H100               # catalogue GPU model slug
    image: ubuntu                 # catalogue image slug
    system_disk:
      size: 500Gi                 # Kubernetes quantity, a whole number of GiB
      storage_class: replicated
    disks:                        # additional disks (current API only)
      - name: datasets            # DNS-1035 label; "os" is the system disk's
        size: 10Ti
        storage_class: replicated # optional, defaults to replicated
    public_ports: [22]            # ports opened on the public IP
    ssh_keys: ["ssh-ed25519 AAAA... me@laptop"]
    software: [nvidia-driver, dcgm-exporter]   # software block slugs; requirements are added
    cloud_config: |               # extra cloud-config, a YAML mapping merged after the blocks
      packages: [htop]
    network: null                 # a network name, or null for none
    justification: ""             # why; required for GPU models that need approval

Omitted keys take the form's defaults (`SpecDefaults`); unknown keys are errors. `null` means
"empty" for disks, public_ports, ssh_keys, software, cloud_config and justification, "none" for
network, and is an error elsewhere. Sizes accept the binary suffixes Ki, Mi, Gi, Ti, Pi and the
decimal ones k, M, G, T, P, with an optional decimal fraction, as long as the result is a whole,
positive number of GiB; a bare number is rejected because Kubernetes would read it as bytes.
"""
