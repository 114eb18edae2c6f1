// The objects a Device makes and runs: buffers, descriptor sets, pipelines, command recording
// and submission (synchronous and asynchronous). The device itself is in vulkan_device.cpp.

#include <algorithm>
#include <cstring>
#include <iterator>

#include "common/assert.h"
#include "vulkan_device.h"
#include "vulkan_error.h"

namespace qs::gpu {

namespace {

// A single submit that takes longer than this is treated as a hung device. Chunks are at most
// a few hundred MiB, which lavapipe processes in well under a second.
constexpr uint64_t kFenceTimeoutNs = 120ull * 1000 * 1000 * 1000;

/// Memory property sets to try, best first, for each use.
std::vector<VkMemoryPropertyFlags> memoryPreferences(MemoryUse use) {
    constexpr VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    constexpr VkMemoryPropertyFlags visible = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    constexpr VkMemoryPropertyFlags coherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    constexpr VkMemoryPropertyFlags cached = VK_MEMORY_PROPERTY_HOST_CACHED_BIT;
    switch (use) {
    case MemoryUse::DeviceLocal: return {local, 0};
    case MemoryUse::Upload: return {visible | coherent, visible};
    case MemoryUse::Readback:
        return {visible | cached | coherent, visible | cached, visible | coherent, visible};
    }
    return {0};
}

}  // namespace

// ==========================================================================================
// Buffer
// ==========================================================================================

Buffer::Buffer(Buffer&& other) noexcept {
    *this = std::move(other);
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
    if (this != &other) {
        release();
        m_device = std::exchange(other.m_device, nullptr);
        m_buffer = std::exchange(other.m_buffer, VK_NULL_HANDLE);
        m_memory = std::exchange(other.m_memory, VK_NULL_HANDLE);
        m_size = std::exchange(other.m_size, 0);
        m_mapped = std::exchange(other.m_mapped, nullptr);
        m_coherent = std::exchange(other.m_coherent, true);
    }
    return *this;
}

Buffer::~Buffer() {
    release();
}

void Buffer::release() {
    if (m_device) m_device->destroyBuffer(*this);
    m_device = nullptr;
}

Status Buffer::flush() const {
    if (!needsFlush()) return {};
    VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
    range.memory = m_memory;
    range.size = VK_WHOLE_SIZE;
    if (VkResult r = vkFlushMappedMemoryRanges(m_device->m_device, 1, &range); r != VK_SUCCESS) {
        return vkError("vkFlushMappedMemoryRanges", r);
    }
    return {};
}

Status Buffer::invalidate() const {
    if (!needsFlush()) return {};
    VkMappedMemoryRange range{VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE};
    range.memory = m_memory;
    range.size = VK_WHOLE_SIZE;
    if (VkResult r = vkInvalidateMappedMemoryRanges(m_device->m_device, 1, &range);
        r != VK_SUCCESS) {
        return vkError("vkInvalidateMappedMemoryRanges", r);
    }
    return {};
}

// ==========================================================================================
// DescriptorSet
// ==========================================================================================

DescriptorSet::DescriptorSet(DescriptorSet&& other) noexcept {
    *this = std::move(other);
}

DescriptorSet& DescriptorSet::operator=(DescriptorSet&& other) noexcept {
    if (this != &other) {
        release();
        m_device = std::exchange(other.m_device, nullptr);
        m_set = std::exchange(other.m_set, VK_NULL_HANDLE);
    }
    return *this;
}

DescriptorSet::~DescriptorSet() {
    release();
}

void DescriptorSet::release() {
    if (m_device && m_set != VK_NULL_HANDLE) m_device->freeDescriptorSet(m_set);
    m_device = nullptr;
    m_set = VK_NULL_HANDLE;
}

// ==========================================================================================
// CommandRecorder
// ==========================================================================================

void CommandRecorder::dispatch(const Pipeline& pipeline, const DescriptorSet& set, const void* push,
                               uint32_t groupsX, uint32_t groupsY) {
    vkCmdBindPipeline(m_cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline);
    VkDescriptorSet s = set.handle();
    vkCmdBindDescriptorSets(m_cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1, &s, 0,
                            nullptr);
    if (pipeline.pushConstantBytes > 0) {
        vkCmdPushConstants(m_cmd, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                           pipeline.pushConstantBytes, push);
    }
    vkCmdDispatch(m_cmd, groupsX, groupsY, 1);
}

void CommandRecorder::copy(const Buffer& src, const Buffer& dst, uint64_t bytes) {
    VkBufferCopy region{0, 0, bytes};
    vkCmdCopyBuffer(m_cmd, src.handle(), dst.handle(), 1, &region);
}

void CommandRecorder::barrier() {
    VkMemoryBarrier b{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    b.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    b.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                      VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                      VK_ACCESS_HOST_READ_BIT;
    vkCmdPipelineBarrier(m_cmd,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT |
                             VK_PIPELINE_STAGE_HOST_BIT,
                         0, 1, &b, 0, nullptr, 0, nullptr);
}

// ==========================================================================================
// Device: objects
// ==========================================================================================

std::string Device::label() const {
    return "vulkan:" + std::to_string(m_info.index) + " " + m_info.name;
}

void Device::setName(VkObjectType type, uint64_t handle, std::string_view name) const {
    if (!m_setObjectName || handle == 0) return;
    const std::string n(name);
    VkDebugUtilsObjectNameInfoEXT info{VK_STRUCTURE_TYPE_DEBUG_UTILS_OBJECT_NAME_INFO_EXT};
    info.objectType = type;
    info.objectHandle = handle;
    info.pObjectName = n.c_str();
    m_setObjectName(m_device, &info);
}

Result<Buffer> Device::createBuffer(uint64_t bytes, MemoryUse use, std::string_view name) {
    if (bytes == 0) return makeError(ErrorCode::Internal, "zero-sized Vulkan buffer requested");
    Buffer b;
    VkBufferCreateInfo ci{VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO};
    ci.size = bytes;
    ci.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
               VK_BUFFER_USAGE_TRANSFER_DST_BIT;
    ci.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
    if (VkResult r = vkCreateBuffer(m_device, &ci, nullptr, &b.m_buffer); r != VK_SUCCESS) {
        return vkError("vkCreateBuffer (" + std::to_string(bytes) + " bytes)", r);
    }
    b.m_device = this;  // from here on ~Buffer releases what exists
    b.m_size = bytes;
    ++m_liveBuffers;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(m_device, b.m_buffer, &req);

    VkResult last = VK_ERROR_OUT_OF_DEVICE_MEMORY;
    uint32_t type = UINT32_MAX;
    for (VkMemoryPropertyFlags want : memoryPreferences(use)) {
        for (uint32_t i = 0; i < m_memory.memoryTypeCount && b.m_memory == VK_NULL_HANDLE; ++i) {
            if (!(req.memoryTypeBits & (1u << i))) continue;
            if ((m_memory.memoryTypes[i].propertyFlags & want) != want) continue;
            VkMemoryAllocateInfo ai{VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO};
            ai.allocationSize = req.size;
            ai.memoryTypeIndex = i;
            last = vkAllocateMemory(m_device, &ai, nullptr, &b.m_memory);
            if (last == VK_SUCCESS) {
                type = i;
            } else {
                b.m_memory = VK_NULL_HANDLE;  // out of memory on this type: try the next one
            }
        }
        if (b.m_memory != VK_NULL_HANDLE) break;
    }
    if (b.m_memory == VK_NULL_HANDLE) {
        return vkError("vkAllocateMemory (" + std::to_string(req.size) + " bytes)", last);
    }
    if (VkResult r = vkBindBufferMemory(m_device, b.m_buffer, b.m_memory, 0); r != VK_SUCCESS) {
        return vkError("vkBindBufferMemory", r);
    }
    const VkMemoryPropertyFlags flags = m_memory.memoryTypes[type].propertyFlags;
    if (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) {
        void* p = nullptr;
        if (VkResult r = vkMapMemory(m_device, b.m_memory, 0, VK_WHOLE_SIZE, 0, &p);
            r != VK_SUCCESS) {
            return vkError("vkMapMemory", r);
        }
        b.m_mapped = static_cast<uint8_t*>(p);
        b.m_coherent = (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    }
    setName(VK_OBJECT_TYPE_BUFFER, uint64_t(b.m_buffer), name);
    setName(VK_OBJECT_TYPE_DEVICE_MEMORY, uint64_t(b.m_memory), name);
    return b;
}

void Device::destroyBuffer(Buffer& b) {
    if (b.m_mapped) vkUnmapMemory(m_device, b.m_memory);
    if (b.m_buffer != VK_NULL_HANDLE) vkDestroyBuffer(m_device, b.m_buffer, nullptr);
    if (b.m_memory != VK_NULL_HANDLE) vkFreeMemory(m_device, b.m_memory, nullptr);
    b.m_buffer = VK_NULL_HANDLE;
    b.m_memory = VK_NULL_HANDLE;
    b.m_mapped = nullptr;
    b.m_size = 0;
    --m_liveBuffers;
}

Result<Device::Layout> Device::layoutFor(uint32_t storageBuffers, uint32_t pushBytes) {
    // Called with m_pipelineMutex held.
    const auto key = std::make_pair(storageBuffers, pushBytes);
    if (auto it = m_layouts.find(key); it != m_layouts.end()) return it->second;
    std::vector<VkDescriptorSetLayoutBinding> bindings(storageBuffers);
    for (uint32_t i = 0; i < storageBuffers; ++i) {
        bindings[i].binding = i;
        bindings[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        bindings[i].descriptorCount = 1;
        bindings[i].stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    }
    Layout l;
    VkDescriptorSetLayoutCreateInfo dl{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
    dl.bindingCount = storageBuffers;
    dl.pBindings = bindings.data();
    if (VkResult r = vkCreateDescriptorSetLayout(m_device, &dl, nullptr, &l.setLayout);
        r != VK_SUCCESS) {
        return vkError("vkCreateDescriptorSetLayout", r);
    }
    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, pushBytes};
    VkPipelineLayoutCreateInfo pl{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
    pl.setLayoutCount = 1;
    pl.pSetLayouts = &l.setLayout;
    pl.pushConstantRangeCount = pushBytes > 0 ? 1 : 0;
    pl.pPushConstantRanges = &range;
    if (VkResult r = vkCreatePipelineLayout(m_device, &pl, nullptr, &l.pipelineLayout);
        r != VK_SUCCESS) {
        vkDestroyDescriptorSetLayout(m_device, l.setLayout, nullptr);
        return vkError("vkCreatePipelineLayout", r);
    }
    m_layouts.emplace(key, l);
    return l;
}

Result<const Pipeline*> Device::pipeline(const ShaderCode& shader, uint32_t workgroupSize,
                                         std::span<const uint32_t> specConstants) {
    std::lock_guard lock(m_pipelineMutex);
    PipelineKey key{std::string(shader.name), workgroupSize,
                    std::vector<uint32_t>(specConstants.begin(), specConstants.end())};
    if (auto it = m_pipelines.find(key); it != m_pipelines.end()) return it->second.get();

    auto layout = layoutFor(shader.storageBuffers, shader.pushConstantBytes);
    if (!layout) return layout.error();

    VkShaderModuleCreateInfo mi{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
    mi.codeSize = shader.spirv.size_bytes();
    mi.pCode = shader.spirv.data();
    VkShaderModule module = VK_NULL_HANDLE;
    if (VkResult r = vkCreateShaderModule(m_device, &mi, nullptr, &module); r != VK_SUCCESS) {
        return vkError("vkCreateShaderModule(" + std::string(shader.name) + ")", r);
    }

    std::vector<uint32_t> values{workgroupSize};
    values.insert(values.end(), specConstants.begin(), specConstants.end());
    std::vector<VkSpecializationMapEntry> entries(values.size());
    for (uint32_t i = 0; i < values.size(); ++i) {
        entries[i] = VkSpecializationMapEntry{i, i * 4u, 4};
    }
    VkSpecializationInfo spec{uint32_t(entries.size()), entries.data(), values.size() * 4u,
                              values.data()};
    VkComputePipelineCreateInfo ci{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
    ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
    ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
    ci.stage.module = module;
    ci.stage.pName = "main";
    ci.stage.pSpecializationInfo = &spec;
    ci.layout = layout->pipelineLayout;
    auto p = std::make_unique<Pipeline>();
    VkResult r = vkCreateComputePipelines(m_device, m_pipelineCache, 1, &ci, nullptr, &p->pipeline);
    // The module is only needed while the pipeline is created.
    vkDestroyShaderModule(m_device, module, nullptr);
    if (r != VK_SUCCESS) {
        return vkError("vkCreateComputePipelines(" + std::string(shader.name) + ")", r);
    }
    p->layout = layout->pipelineLayout;
    p->setLayout = layout->setLayout;
    p->storageBuffers = shader.storageBuffers;
    p->pushConstantBytes = shader.pushConstantBytes;
    p->workgroupSize = workgroupSize;
    setName(VK_OBJECT_TYPE_PIPELINE, uint64_t(p->pipeline), shader.name);
    const Pipeline* out = p.get();
    m_pipelines.emplace(std::move(key), std::move(p));
    return out;
}

size_t Device::pipelineCount() const {
    std::lock_guard lock(m_pipelineMutex);
    return m_pipelines.size();
}

Result<DescriptorSet> Device::bindBuffers(const Pipeline& pipeline,
                                          std::span<const Buffer* const> buffers) {
    if (buffers.size() != pipeline.storageBuffers) {
        return makeError(ErrorCode::Internal, "descriptor set: wrong number of buffers");
    }
    DescriptorSet set;
    {
        std::lock_guard lock(m_descriptorMutex);
        VkDescriptorSetAllocateInfo ai{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
        ai.descriptorPool = m_descriptorPool;
        ai.descriptorSetCount = 1;
        ai.pSetLayouts = &pipeline.setLayout;
        if (VkResult r = vkAllocateDescriptorSets(m_device, &ai, &set.m_set); r != VK_SUCCESS) {
            return vkError("vkAllocateDescriptorSets", r);
        }
    }
    set.m_device = this;
    ++m_liveSets;
    std::vector<VkDescriptorBufferInfo> infos(buffers.size());
    std::vector<VkWriteDescriptorSet> writes(buffers.size());
    for (size_t i = 0; i < buffers.size(); ++i) {
        // Whole buffers; callers keep each at or below maxStorageBufferRange.
        infos[i] = VkDescriptorBufferInfo{buffers[i]->handle(), 0, buffers[i]->size()};
        writes[i] = VkWriteDescriptorSet{VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
        writes[i].dstSet = set.m_set;
        writes[i].dstBinding = uint32_t(i);
        writes[i].descriptorCount = 1;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
    }
    vkUpdateDescriptorSets(m_device, uint32_t(writes.size()), writes.data(), 0, nullptr);
    return set;
}

void Device::freeDescriptorSet(VkDescriptorSet set) {
    std::lock_guard lock(m_descriptorMutex);
    vkFreeDescriptorSets(m_device, m_descriptorPool, 1, &set);
    --m_liveSets;
}

Status Device::submit(const std::function<void(CommandRecorder&)>& record) {
    std::lock_guard lock(m_submitMutex);
    if (VkResult r = vkResetCommandBuffer(m_commandBuffer, 0); r != VK_SUCCESS) {
        return vkError("vkResetCommandBuffer", r);
    }
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    if (VkResult r = vkBeginCommandBuffer(m_commandBuffer, &bi); r != VK_SUCCESS) {
        return vkError("vkBeginCommandBuffer", r);
    }
    CommandRecorder rec(m_commandBuffer);
    record(rec);
    if (VkResult r = vkEndCommandBuffer(m_commandBuffer); r != VK_SUCCESS) {
        return vkError("vkEndCommandBuffer", r);
    }
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &m_commandBuffer;
    if (VkResult r = vkResetFences(m_device, 1, &m_fence); r != VK_SUCCESS) {
        return vkError("vkResetFences", r);
    }
    if (VkResult r = vkQueueSubmit(m_queue, 1, &si, m_fence); r != VK_SUCCESS) {
        return vkError("vkQueueSubmit", r);
    }
    if (VkResult r = vkWaitForFences(m_device, 1, &m_fence, VK_TRUE, kFenceTimeoutNs);
        r != VK_SUCCESS) {
        if (r == VK_TIMEOUT) vkDeviceWaitIdle(m_device);  // never leave work in flight
        return vkError(r == VK_TIMEOUT ? "GPU work timed out: vkWaitForFences" : "vkWaitForFences",
                       r);
    }
    return {};
}

namespace {

/// Waits for `fence` with the submit timeout; on timeout the device is drained first.
Status waitFence(VkDevice device, VkFence fence, uint64_t timeoutNs) {
    if (VkResult r = vkWaitForFences(device, 1, &fence, VK_TRUE, timeoutNs); r != VK_SUCCESS) {
        if (r == VK_TIMEOUT) vkDeviceWaitIdle(device);  // never leave work in flight
        return makeError(ErrorCode::IoError,
                         std::string(r == VK_TIMEOUT ? "GPU work timed out: vkWaitForFences"
                                                     : "vkWaitForFences") +
                             " failed (VkResult " + std::to_string(int(r)) + ")");
    }
    return {};
}

}  // namespace

Status Device::submitAsync(int slot, const std::function<void(CommandRecorder&)>& record) {
    QS_ASSERT(slot >= 0 && slot < kAsyncSlots);
    std::lock_guard lock(m_submitMutex);
    if (m_asyncPending[slot]) {
        m_asyncPending[slot] = false;
        QS_TRY(waitFence(m_device, m_asyncFences[slot], kFenceTimeoutNs));
    }
    VkCommandBuffer cmd = m_asyncCommandBuffers[slot];
    if (VkResult r = vkResetCommandBuffer(cmd, 0); r != VK_SUCCESS) {
        return vkError("vkResetCommandBuffer", r);
    }
    VkCommandBufferBeginInfo bi{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
    if (VkResult r = vkBeginCommandBuffer(cmd, &bi); r != VK_SUCCESS) {
        return vkError("vkBeginCommandBuffer", r);
    }
    CommandRecorder rec(cmd);
    record(rec);
    if (VkResult r = vkEndCommandBuffer(cmd); r != VK_SUCCESS) {
        return vkError("vkEndCommandBuffer", r);
    }
    if (VkResult r = vkResetFences(m_device, 1, &m_asyncFences[slot]); r != VK_SUCCESS) {
        return vkError("vkResetFences", r);
    }
    VkSubmitInfo si{VK_STRUCTURE_TYPE_SUBMIT_INFO};
    si.commandBufferCount = 1;
    si.pCommandBuffers = &cmd;
    if (VkResult r = vkQueueSubmit(m_queue, 1, &si, m_asyncFences[slot]); r != VK_SUCCESS) {
        return vkError("vkQueueSubmit", r);
    }
    m_asyncPending[slot] = true;
    return {};
}

Status Device::waitAsync(int slot) {
    QS_ASSERT(slot >= 0 && slot < kAsyncSlots);
    std::lock_guard lock(m_submitMutex);
    if (!m_asyncPending[slot]) return {};
    m_asyncPending[slot] = false;
    return waitFence(m_device, m_asyncFences[slot], kFenceTimeoutNs);
}

}  // namespace qs::gpu
